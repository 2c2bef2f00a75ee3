select gene_symbol, ncbi_gene_id, disease_id, disease_name, modes
from {{ source('reference', 'gene_diseases') }}
