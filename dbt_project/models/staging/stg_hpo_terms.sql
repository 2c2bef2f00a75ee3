select hpo_id, name, information_content, n_ancestors
from {{ source('reference', 'hpo_terms') }}
