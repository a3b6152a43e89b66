"""Parsing and summaries on the real corpus."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from lxml import etree

import juxsdk
from juxsdk.errors import ReportError, ReportParseError
from tests.conftest import CORPUS, bad_corpus, good_corpus


def _declared(root) -> tuple[int, int, int, int] | None:
    keys = ("tests", "failures", "errors", "skipped")
    local = root.tag.rpartition("}")[2]
    if local == "testsuites" and root.get("tests") is not None:
        return tuple(int(root.get(k) or 0) for k in keys)
    suites = [root] if local == "testsuite" else [c for c in root if str(c.tag).endswith("testsuite")]
    if not suites or all(s.get("tests") is None for s in suites):
        return None
    return tuple(sum(int(s.get(k) or 0) for s in suites) for k in keys)


@pytest.mark.parametrize("path", good_corpus(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_wellformed_corpus_file_summarises_to_its_declared_counts(path: Path) -> None:
    report = juxsdk.parse_report(path.read_bytes(), source=path.name)
    declared = _declared(report._root)
    got = (report.summary.tests, report.summary.failures, report.summary.errors, report.summary.skipped)
    if declared is None:  # edge-cases/missing-attributes.xml declares nothing: count by hand
        assert path.name == "missing-attributes.xml"
        assert got == (6, 1, 1, 1)
    else:
        assert got == declared
    assert report.data == path.read_bytes()
    assert report.canonical_hash.startswith("sha256:") and len(report.canonical_hash) == 71


@pytest.mark.parametrize("path", bad_corpus(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_malformed_corpus_file_is_rejected_with_line_and_column(path: Path) -> None:
    with pytest.raises(ReportParseError) as info:
        juxsdk.parse_report(path.read_bytes(), source=path.name)
    err = info.value
    assert path.name in str(err)
    if path.stat().st_size:
        assert err.line is not None and err.column is not None
        assert f":{err.line}:{err.column}:" in err.message
    assert "\n" not in str(err)


def test_nested_suites_are_counted_once(corpus_dir: Path) -> None:
    r = juxsdk.parse_report((corpus_dir / "edge-cases/nested-testsuites.xml").read_bytes())
    root = r._root
    cases = len([e for e in root.iter() if str(e.tag).endswith("testcase")])
    assert r.summary.tests == cases
    assert r.summary.suites > 1


def test_testcases_directly_under_testsuites_node_style() -> None:
    doc = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testcase name="a" classname="x" time="0.1"/>
  <testcase name="b" classname="x" time="0.2"><failure message="boom" type="Error">trace</failure></testcase>
  <testcase name="c" classname="x" time="0"><skipped/></testcase>
</testsuites>"""
    s = juxsdk.parse_report(doc).summary
    assert (s.tests, s.failures, s.errors, s.skipped) == (3, 1, 0, 1)
    assert s.time == pytest.approx(0.3)


def test_namespaced_report() -> None:
    doc = b"""<t:testsuites xmlns:t="urn:example:junit"><t:testsuite name="s" tests="2">
<t:properties><t:property name="project" value="ns-proj"/></t:properties>
<t:testcase name="a"/><t:testcase name="b"><t:error message="x"/></t:testcase></t:testsuite></t:testsuites>"""
    r = juxsdk.parse_report(doc)
    assert (r.summary.tests, r.summary.errors) == (2, 1)
    assert r.project == "ns-proj"


def test_properties_in_document_order_exclude_testcase_level(corpus_dir: Path) -> None:
    r = juxsdk.parse_report((corpus_dir / "raw/pytest/xunit1-properties.xml").read_bytes())
    names = [n for n, _ in r.properties]
    assert names == ["Python", "Platform", "Packages"]  # testcase-level config_file excluded


def test_root_must_be_junit() -> None:
    with pytest.raises(ReportError, match="expected <testsuites> or <testsuite>"):
        juxsdk.parse_report(b"<html><body/></html>")


def test_size_limit_can_be_raised() -> None:
    doc = b"<testsuite>" + b"<testcase name='x'/>" * 100 + b"</testsuite>"
    with pytest.raises(ReportParseError, match="over the limit"):
        juxsdk.parse_report(doc, max_bytes=100)
    assert juxsdk.parse_report(doc, max_bytes=len(doc)).summary.tests == 100


def test_very_large_text_node_is_accepted() -> None:
    big = b"x" * (12 * 1024 * 1024)  # over libxml2's 10 MB text-node limit without huge_tree
    doc = b"<testsuite><testcase name='t'><system-out>" + big + b"</system-out></testcase></testsuite>"
    assert juxsdk.parse_report(doc).summary.tests == 1


def test_add_properties_writes_into_first_testsuite_and_keeps_original(corpus_dir: Path) -> None:
    original = juxsdk.parse_report((corpus_dir / "raw/pytest/xunit2-basic.xml").read_bytes())
    updated = juxsdk.add_properties(original, {"project": "demo", "git:commit": "abc"})
    assert ("project", "demo") in updated.properties
    assert original.properties == ()  # the original value is unchanged
    suite = next(e for e in updated._root.iter() if str(e.tag).endswith("testsuite"))
    assert suite[0].tag == "properties"
    assert updated.summary == original.summary
    assert updated.canonical_hash != original.canonical_hash
    # existing property is replaced only when asked
    again = juxsdk.add_properties(updated, {"project": "other"}, replace=False)
    assert again.project == "demo"
    assert juxsdk.add_properties(updated, {"project": "other"}).project == "other"


@pytest.mark.parametrize(
    ("encoding", "written"),
    [("UTF-7", "UTF-8"), ("HZ", "UTF-8"), ("ISO-8859-1", "ISO-8859-1"), ("UTF-16", "UTF-16")],
)
def test_add_properties_writes_an_encoding_it_can_read_back(encoding: str, written: str) -> None:
    """Found by the fuzz suite: a UTF-7 report came back from add_properties as bytes that did
    not parse (libxml2 does not write UTF-7 faithfully); such documents are written in UTF-8."""
    text = f'<?xml version="1.0" encoding="{encoding}"?>\n<testsuite name="s~"><testcase name="t"/></testsuite>'
    report = juxsdk.parse_report(text.encode(encoding))
    added = juxsdk.add_properties(report, {"project": "p+q~"})
    again = juxsdk.parse_report(added.data)
    assert again.properties == (("project", "p+q~"),)
    assert again.canonical_hash == added.canonical_hash
    assert again._root.getroottree().docinfo.encoding.upper() == written


@pytest.mark.parametrize(
    "doc",
    [
        # a <testsuites> root with its own <properties> (read before the suites')
        "edge-cases/deeply-nested-with-project.xml",
        # two properties of one name: the first is the one read, so that is the one replaced
        "edge-cases/duplicate-project-property.xml",
        # the first suite's properties after a nested suite's
        b'<testsuite name="a"><testsuite name="b"><properties><property name="project" value="inner"/>'
        b'</properties><testcase name="t"/></testsuite><properties><property name="project" value="outer"/>'
        b"</properties></testsuite>",
    ],
)
def test_added_property_is_the_one_read_first(doc: str | bytes, corpus_dir: Path) -> None:
    """Found by the fuzz suite: add_properties wrote into the first <testsuite> while the report's
    project came from the <testsuites> root's own <properties>, and replaced the last of two
    properties of one name while the first is read; either way `project` was not changed."""
    data = (corpus_dir / doc).read_bytes() if isinstance(doc, str) else doc
    report = juxsdk.parse_report(data)
    assert report.project not in (None, "new")
    added = juxsdk.add_properties(report, {"project": "new", "jux:x": "1"})
    assert added.project == "new"
    assert added.summary == report.summary
    # the two written, and every other property kept (the one replaced was the first project)
    before, after = collections.Counter(report.properties), collections.Counter(added.properties)
    assert after - before == collections.Counter({("project", "new"): 1, ("jux:x", "1"): 1})
    assert before - after in (collections.Counter(), collections.Counter({("project", report.project): 1}))
    assert juxsdk.add_properties(added, {"project": "new"}).data == added.data  # nothing to write


def test_add_properties_refuses_signed_report(rsa_signer, corpus_dir: Path) -> None:
    signed = juxsdk.sign_report((corpus_dir / "raw/generic/basic.xml").read_bytes(), rsa_signer)
    with pytest.raises(juxsdk.AlreadySignedError):
        juxsdk.add_properties(juxsdk.parse_report(signed.data), {"x": "y"})


@pytest.mark.parametrize(
    ("doc", "props", "defaults"),
    [
        (b'<testsuite name="s"><properties><property name="project" value="p"/>'
         b'<property name="ci" value="1"/></properties><testcase name="a"/></testsuite>', {"project": "p"}, {}),
        (b"<?xml version='1.0'?>\n<testsuites><properties><property name='project' value='p'/></properties>"
         b"<testsuite name='s'/></testsuites>", {}, {"project": "other"}),
    ],
)
def test_add_properties_with_nothing_to_write_returns_the_report_itself(doc, props, defaults) -> None:
    # every property is already there with the value it would get (a default never overrides):
    # the same Report, its bytes untouched, instead of a re-serialised copy
    report = juxsdk.parse_report(doc)
    assert juxsdk.add_properties(report, props, defaults=defaults) is report


def test_add_properties_with_no_property_returns_the_report_itself() -> None:
    report = juxsdk.parse_report(b'<testsuite name="s"><testcase name="a"/></testsuite>')
    assert juxsdk.add_properties(report, {}) is report
    assert juxsdk.add_properties(report, [], defaults={}) is report


def test_an_element_in_properties_that_is_not_a_property_is_not_a_property_already_there() -> None:
    doc = b'<testsuite name="s"><properties><other name="project" value="p"/></properties></testsuite>'
    report = juxsdk.parse_report(doc)
    assert report.project is None
    added = juxsdk.add_properties(report, {"project": "p"})
    assert added.project == "p"
    assert b'<property name="project" value="p"/>' in added.data


def test_add_properties_writes_into_the_suite_properties_after_a_testcase_properties() -> None:
    # a <properties> of a testcase comes first in document order and is not the suite's: the
    # suite's own <properties> (after its testcases) is still the one written into
    doc = (b'<testsuite name="s"><testcase name="a"><properties><property name="k" value="v"/></properties>'
           b'</testcase><properties><property name="ci" value="1"/></properties></testsuite>')
    added = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "p"})
    root = etree.fromstring(added.data)
    assert [el.tag for el in root] == ["testcase", "properties"]
    assert [p.get("name") for p in root[1]] == ["ci", "project"]
    assert added.project == "p"


@pytest.mark.parametrize(
    ("doc", "time"),
    [
        # no total on the root: the sum of the top-level suites' own times, not of the testcases
        (b'<testsuites><testsuite name="a" time="5"><testcase name="t" time="1"/></testsuite>'
         b'<testsuite name="b" time="2.5"/></testsuites>', 7.5),
        # a non-suite child of the root has no time and does not count as a suite
        (b'<testsuites><properties/><testsuite name="a" time="5"><testcase name="t" time="1"/>'
         b"</testsuite></testsuites>", 5.0),
        # a top-level suite without a time: the testcases' times
        (b'<testsuites><testsuite name="a" time="5"><testcase name="t" time="1"/></testsuite>'
         b'<testsuite name="b"><testcase name="u" time="0.25"/></testsuite></testsuites>', 1.25),
        # the root's own total wins
        (b'<testsuites time="9"><testsuite name="a" time="5"><testcase name="t" time="1"/></testsuite>'
         b"</testsuites>", 9.0),
    ],
)
def test_the_summary_time_comes_from_the_highest_level_that_has_one(doc: bytes, time: float) -> None:
    assert juxsdk.parse_report(doc).summary.time == time


def test_add_properties_never_writes_into_a_later_suite() -> None:
    # the first suite has no <properties>; the second one's are not read first, so the new
    # properties go into a new <properties> of the first suite and the second keeps its own
    doc = (b'<testsuites><testsuite name="a"><testcase name="t"/></testsuite><testsuite name="b">'
           b'<properties><property name="project" value="old"/></properties></testsuite></testsuites>')
    added = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "new"})
    root = etree.fromstring(added.data)
    assert [p.get("value") for p in root[0].find("properties")] == ["new"]
    assert [p.get("value") for p in root[1].find("properties")] == ["old"]
    assert added.project == "new"
    assert added.properties == (("project", "new"), ("project", "old"))


@pytest.mark.parametrize("outcome", ["failure", "error", "skipped"])
def test_an_outcome_element_outside_a_testcase_is_not_a_test_outcome(outcome: str) -> None:
    # some producers write a suite-level <error> (a failed setup) or <skipped>: it does not make
    # the suite a failed, erroring or skipped test
    doc = (f'<testsuite name="s"><{outcome} message="setup"/><testcase name="a"/>'
           f'<testcase name="b"><failure/></testcase><{outcome}/></testsuite>').encode()
    summary = juxsdk.parse_report(doc).summary
    assert (summary.tests, summary.failures, summary.errors, summary.skipped) == (2, 1, 0, 0)


def test_a_report_after_kilobytes_of_leading_whitespace_is_not_empty() -> None:
    # the empty-file check looks at the first 4 KiB first; whitespace there is not the whole file
    assert juxsdk.parse_report(b" \n" * 3000 + b'<testsuite name="s"><testcase name="a"/></testsuite>').summary.tests == 1
    with pytest.raises(ReportParseError, match="file is empty"):
        juxsdk.parse_report(b" \n" * 3000)



@pytest.mark.parametrize(
    ("declaration", "written"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?>', b"<?xml version='1.0' encoding='UTF-8'?>"),
        (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
         b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>"),
        (b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
         b"<?xml version='1.0' encoding='UTF-8' standalone='no'?>"),
    ],
)
def test_a_reserialised_report_keeps_its_standalone_declaration_as_it_was(declaration, written) -> None:
    # no standalone pseudo-attribute stays none (lxml reports it as False, which would write "no")
    added = juxsdk.add_properties(juxsdk.parse_report(declaration + b'<testsuite name="s"/>'), {"project": "p"})
    assert added.data.startswith(written + b"\n<testsuite")


def test_add_properties_without_replace_keeps_an_existing_value_while_writing_others() -> None:
    doc = b'<testsuite name="s"><properties><property name="project" value="mine"/></properties></testsuite>'
    report = juxsdk.parse_report(doc)
    kept = juxsdk.add_properties(report, {"project": "other", "ci": "1"}, replace=False)
    assert kept.properties == (("project", "mine"), ("ci", "1"))
    defaulted = juxsdk.add_properties(report, {"ci": "1"}, defaults={"project": "detected"})
    assert defaulted.properties == (("project", "mine"), ("ci", "1"))
    replaced = juxsdk.add_properties(report, {"project": "other", "ci": "1"})
    assert replaced.properties == (("project", "other"), ("ci", "1"))


@pytest.mark.parametrize("where", ["element", "attribute"])
def test_a_name_over_libxml2s_limit_is_not_well_formed_xml(where: str) -> None:
    # only a text node, attribute value or start tag over 10 MB is parsed again with the huge
    # limits; a 60,000-character name (libxml2's limit is 50,000) stays refused
    name = "n" * 60_000
    doc = f"<testsuite><{name}/></testsuite>" if where == "element" else f'<testsuite {name}="1"/>'
    with pytest.raises(ReportParseError, match="Name too long"):
        juxsdk.parse_report(doc.encode())


@pytest.mark.parametrize(("source", "label"), [(None, "<bytes>"), ("page.html", "page.html")])
def test_a_root_that_is_not_junit_is_named_with_its_source(source, label) -> None:
    with pytest.raises(ReportError) as info:
        juxsdk.parse_report(b"<html><body/></html>", source=source)
    assert info.value.message.startswith(f"{label}: root element is <html>, expected <testsuites> or <testsuite>")


def test_properties_added_to_a_namespaced_report_are_in_its_namespace() -> None:
    doc = b'<testsuite xmlns="urn:junit" name="s"><testcase name="a"/></testsuite>'
    added = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "p"})
    root = etree.fromstring(added.data)
    assert [el.tag for el in root] == ["{urn:junit}properties", "{urn:junit}testcase"]
    assert root[0][0].tag == "{urn:junit}property"
    assert b"xmlns=" not in added.data.replace(b'xmlns="urn:junit"', b"", 1)
    # the Report's own tree (what signing and a second add_properties work on) is the document
    # its bytes hold: libxml2 writes an un-namespaced child of a default-namespaced element
    # without xmlns="", so the bytes alone would not show a missing namespace
    assert [el.tag for el in added._root] == ["{urn:junit}properties", "{urn:junit}testcase"]
    again = juxsdk.parse_report(added.data)
    assert (added.canonical_hash, added.summary, added.properties) == (again.canonical_hash, again.summary,
                                                                       again.properties)


def test_a_property_appended_to_indented_properties_follows_their_indentation() -> None:
    doc = (b'<testsuite name="s">\n  <properties>\n    <property name="a" value="1"/>\n  </properties>\n'
           b'  <testcase name="t"/>\n</testsuite>')
    added = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "p", "ci": "1"})
    assert added.data.split(b"\n", 1)[1] == (
        b'<testsuite name="s">\n  <properties>\n    <property name="a" value="1"/>\n'
        b'    <property name="project" value="p"/>\n    <property name="ci" value="1"/>\n  </properties>\n'
        b'  <testcase name="t"/>\n</testsuite>'
    )


@pytest.mark.parametrize(("value", "seconds"), [("n/a", 0.0), ("", 0.0), ("1,234.5", 1234.5), ("2.5", 2.5)])
def test_a_time_that_is_not_a_number_counts_as_zero(value: str, seconds: float) -> None:
    doc = f'<testsuite name="s" time="{value}"><testcase name="a" time="9"/></testsuite>'.encode()
    assert juxsdk.parse_report(doc).summary.time == seconds


def test_the_depth_limit_holds_when_a_huge_text_node_needs_the_second_parse() -> None:
    from juxsdk.errors import ReportLimitError
    from juxsdk.limits import MAX_DEPTH

    deep = "<x>" * MAX_DEPTH + "</x>" * MAX_DEPTH
    # the text node over 10 MB comes first: the first parse stops there, the second (with
    # libxml2's limits lifted, its own depth limit 2048) reads the nesting, checked afterwards
    doc = f"<testsuite><system-out>{'o' * 11_000_000}</system-out><testcase>{deep}</testcase></testsuite>"
    with pytest.raises(ReportLimitError, match=f"nested deeper than {MAX_DEPTH} levels"):
        juxsdk.parse_report(doc.encode(), max_bytes=len(doc) + 1)


@pytest.mark.parametrize(
    ("declared", "written"),
    [("ISO-8859-1", "ISO-8859-1"), ("UTF-16", "UTF-16"), ("utf-32-le", "utf-32-le"), ("UTF-7", "UTF-8"),
     ("cp037", "UTF-8"), ("UCS-2", "UTF-8"), ("no-such-codec", "UTF-8"), (None, "UTF-8")],
)
def test_a_reserialised_report_is_written_in_its_own_encoding_when_that_is_safe(declared, written) -> None:
    # ASCII-compatible encodings and UTF-16/32 are kept; anything Python cannot write back or
    # that is not ASCII-compatible (UTF-7, EBCDIC, names Python does not know) becomes UTF-8
    from juxsdk.junit import serialisation_encoding

    assert serialisation_encoding(declared) == written


def test_comments_and_processing_instructions_among_suites_and_properties_are_skipped() -> None:
    from juxsdk._xml import local_name

    assert local_name(etree.Comment("c").tag) == "" and local_name(etree.PI("p").tag) == ""
    doc = (b'<testsuites><!-- c --><?pi x?><testsuite name="a" time="2"><properties><!-- p -->'
           b'<property name="project" value="x"/></properties><testcase name="t"/></testsuite></testsuites>')
    report = juxsdk.parse_report(doc)
    assert (report.summary.time, report.project) == (2.0, "x")
    assert juxsdk.add_properties(report, {"project": "y"}).project == "y"


@pytest.mark.parametrize("props", [b"<properties/>", b"<properties></properties>", b"<properties>\n</properties>"])
def test_properties_are_added_to_an_empty_properties_element(props: bytes) -> None:
    doc = b'<testsuite name="s">' + props + b'<testcase name="t"/></testsuite>'
    added = juxsdk.add_properties(juxsdk.parse_report(doc), {"project": "p"})
    assert added.properties == (("project", "p"),)
    assert [el.tag for el in etree.fromstring(added.data)] == ["properties", "testcase"]
