"""``jux report --html OUT/``: the static HTML evidence report."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT_SETTINGS, JuxCommand, echo_json, get_state, global_options, plural
from ._evidence import dates, filter_options, index_option, open_index


@click.command(cls=JuxCommand, context_settings=CONTEXT_SETTINGS)
@click.option("--html", "html_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Directory to write the site into (index.html, one page per project and per run).")
@filter_options
@click.option("--title", default="Evidence report", show_default=True, help="Title of the report.")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the page written and its counts.")
@global_options(hidden=True)
def report(
    html_dir: Path,
    project: str | None,
    branch: str | None,
    since: str | None,
    until: str | None,
    title: str,
    index_path: Path | None,
    as_json: bool,
) -> None:
    """Write a static HTML evidence report from the evidence index.

    The site opens from disk with no server and no network (inline CSS and SVG charts, no
    script): per project, runs over time (pass rate and duration charts), each run with its
    verification result, signer, provenance and failed tests. Reports that failed verification
    or violate the last policy are listed apart and marked: never shown as evidence.

    \b
    Example:
      jux audit --policy release.toml && jux report --html evidence/
    """
    from juxsdk.evidence.report_html import write_report

    get_state()
    since_dt, until_dt = dates(since, until)
    with open_index(index_path) as idx:
        summary = write_report(idx, html_dir, project=project, branch=branch, since=since_dt, until=until_dt,
                               title=title)
    if as_json:
        echo_json({"index_html": str(html_dir / "index.html"), **summary})
        return
    click.echo(
        f"wrote {html_dir / 'index.html'}: {plural(summary['projects'], 'project')}, "
        f"{plural(summary['evidence'], 'report')} as evidence, {summary['flagged']} flagged",
        err=True,
    )
