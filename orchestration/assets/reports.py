"""Clinician-facing pages: one HTML report per unsolved patient, from the published lake."""

import dagster as dg

from orchestration.assets.isolation import isolated
from orchestration.report.write import REPORTS_SUBDIR, write_patient_reports
from orchestration.resources import LakeResource


@dg.asset(group_name="reports", kinds={"html"}, deps=["lake_catalog"])
@isolated("reports", [f"reports/{REPORTS_SUBDIR}/index.html"])
def patient_reports(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """reports/patients/<patient>.html: for every unsolved patient, the top genes with
    their score, variants, which patient terms matched which disease terms, the reasons
    and the ranking method, as one self-contained page (research use, not a diagnosis),
    read from the catalog just published, plus index.html linking them all. Pages of
    patients solved since are removed."""
    paths = lake.paths
    result = write_patient_reports(paths)
    for pid, error in sorted(result.failed.items()):
        context.log.error("no report for patient %r: %s", pid, error)
    if result.removed:
        context.log.info("removed %d report(s) of patients no longer ranked", len(result.removed))
    return dg.MaterializeResult(metadata={
        "reports": len(result.written),
        "failed": len(result.failed),
        "removed": len(result.removed),
        "index": dg.MetadataValue.path(str(result.index_page)),
        "folder": dg.MetadataValue.path(str(result.index_page.parent)),
        "paths": dg.MetadataValue.json({pid: str(p) for pid, p in sorted(result.written.items())}),
    })
