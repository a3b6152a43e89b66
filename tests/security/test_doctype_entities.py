"""DOCTYPE, entities and XInclude (issue 10, class 1): nothing outside the input is ever opened.

A FIFO detects file opens: opening a FIFO for reading blocks until a writer comes, so a parser
that follows a reference to it hangs. Each hostile document is parsed in a child process with a
timeout; a hang (timeout) means the FIFO was opened. The child prints one line per case as it
goes, so a hang names the case. A control case proves the detection works: lxml configured as
juxsdk configured it before this fix (``resolve_entities=False`` and nothing else) does hang.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import juxsdk
from juxsdk.errors import DoctypeForbiddenError

PAD = 100_000  # past any fixed-size prefix check (the old check read 64 KiB)


def _documents(fifo: Path) -> dict[str, bytes]:
    url = f"file://{fifo}"
    pe = f'<!DOCTYPE testsuite [<!ENTITY % pe SYSTEM "{url}"> %pe;]>'
    ge = f'<!DOCTYPE testsuite [<!ENTITY ge SYSTEM "{url}">]>'
    ext = f'<!DOCTYPE testsuite SYSTEM "{url}">'
    body = '<testsuite name="&ge;"><testcase name="a"/></testsuite>'
    plain = '<testsuite name="x"><testcase name="a"/></testsuite>'
    docs: dict[str, bytes] = {
        "utf8-parameter-entity": (pe + plain).encode(),
        "utf8-external-subset": (ext + plain).encode(),
        "utf8-general-entity": (ge + body).encode(),
        "utf8-bom": b"\xef\xbb\xbf" + (pe + plain).encode(),
        "utf16le-bom": ("\ufeff" + '<?xml version="1.0" encoding="UTF-16"?>' + pe + plain).encode("utf-16-le"),
        "utf16be-bom": ("\ufeff" + pe + plain).encode("utf-16-be"),
        "utf32le-bom": ("\ufeff" + pe + plain).encode("utf-32-le"),
        "latin1-declared": ('<?xml version="1.0" encoding="ISO-8859-1"?><!-- \u00e9 -->' + pe + plain).encode("latin-1"),
        "after-64k-comment": ("<?xml version='1.0'?><!--" + "x" * PAD + "-->" + pe + plain).encode(),
        "after-64k-whitespace": ("<?xml version='1.0'?>" + " \n" * PAD + pe + plain).encode(),
        "after-64k-pis": ("<?xml version='1.0'?>" + "<?pad x?>" * (PAD // 8) + pe + plain).encode(),
        "utf16-after-64k-comment": ("\ufeff<!--" + "x" * PAD + "-->" + pe + plain).encode("utf-16-le"),
    }
    return docs


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import juxsdk
    from juxsdk.errors import DoctypeForbiddenError
    cases = json.loads(sys.stdin.read())
    for name, hexdoc in cases.items():
        print("START", name, flush=True)
        t = time.perf_counter()
        try:
            juxsdk.parse_report(bytes.fromhex(hexdoc))
            outcome = "PARSED"
        except DoctypeForbiddenError as exc:
            outcome = "REFUSED " + str(exc)
        except juxsdk.JuxError as exc:
            outcome = "OTHER " + type(exc).__name__ + " " + str(exc)
        print("DONE", name, round(time.perf_counter() - t, 3), outcome, flush=True)
    """
)


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "secret-fifo"
    os.mkfifo(path)
    return path


def test_no_doctype_document_opens_anything_in_any_encoding(fifo: Path) -> None:
    import json

    docs = _documents(fifo)
    payload = json.dumps({k: v.hex() for k, v in docs.items()})
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD], input=payload, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        hung = [line.split()[1] for line in out.splitlines() if line.startswith("START")][-1:]
        pytest.fail(f"the parser opened the FIFO (hung) on case {hung}: {out}")
    assert proc.returncode == 0, proc.stderr
    done = {line.split()[1]: line for line in proc.stdout.splitlines() if line.startswith("DONE")}
    assert set(done) == set(docs)
    for name, line in done.items():
        assert " REFUSED " in line, line
        assert "DOCTYPE declarations are not allowed" in line, line
        assert float(line.split()[2]) < 2.0, line


def test_the_fifo_detection_works(fifo: Path) -> None:
    """Control: the parser configuration juxsdk used before (no resolver) hangs on the FIFO."""
    code = (
        "import sys; from lxml import etree\n"
        "etree.fromstring(sys.stdin.buffer.read(), etree.XMLParser(resolve_entities=False, no_network=True,\n"
        "    load_dtd=False, dtd_validation=False, huge_tree=True, collect_ids=False))\n"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", code], input=_documents(fifo)["utf8-parameter-entity"],
                       capture_output=True, timeout=3)


def test_xinclude_is_never_processed(fifo: Path, rsa_keys) -> None:
    doc = (
        '<testsuite xmlns:xi="http://www.w3.org/2001/XInclude" name="s" tests="1">'
        f'<testcase name="a"><xi:include href="file://{fifo}" parse="text"/></testcase></testsuite>'
    ).encode()
    code = (
        "import sys, juxsdk\nfrom pathlib import Path\n"
        "from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner\n"
        "r = juxsdk.parse_report(sys.stdin.buffer.read())\n"
        f"s = juxsdk.sign_report(r, FileKeySigner(FileKeyOptions(key=Path({str(rsa_keys.key_path)!r}))))\n"
        "v = juxsdk.verify_report(s.data, juxsdk.UnsafeAcceptAnyKey())\n"
        "print(v.summary.tests, b'xi:include' in v.signed_content)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=doc, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().split() == ["1", "True"]  # kept as an element, not followed


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(b'<!DOCTYPE testsuite><testsuite name="x"/>', id="bare-doctype"),
        pytest.param(b'<!DOCTYPE t [<!ENTITY a "x">]><testsuite name="&a;"/>', id="internal-entity"),
        pytest.param(
            b'<!DOCTYPE l [<!ENTITY l0 "lol">'
            + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
            + b']><testsuite name="&l9;"/>',
            id="billion-laughs",
        ),
        pytest.param(
            b'<!DOCTYPE q [<!ENTITY a "' + b"x" * 100_000 + b'">]><testsuite name="' + b"&a;" * 10_000 + b'"/>',
            id="quadratic-blowup",
        ),
        pytest.param(
            b'<!DOCTYPE q [<!ENTITY % a "x"><!ENTITY % b "%a;%a;">]><testsuite/>', id="parameter-entities"
        ),
    ],
)
def test_every_doctype_is_refused_with_a_clear_error(doc: bytes) -> None:
    for variant in (doc, b"<!--" + b"p" * PAD + b"-->" + doc, ("\ufeff" + doc.decode()).encode("utf-16-le")):
        with pytest.raises(DoctypeForbiddenError, match="DOCTYPE declarations are not allowed") as info:
            juxsdk.parse_report(variant)
        assert info.value.hint == "JUnit producers never write a DOCTYPE; remove it"
        with pytest.raises(DoctypeForbiddenError):
            juxsdk.verify_report(variant, juxsdk.UnsafeAcceptAnyKey())


def test_doctype_in_a_utf32_document_is_refused_by_the_full_parse(fifo: Path) -> None:
    # lxml's incremental parser cannot read UTF-32 with a BOM, so the prolog pass cannot decide;
    # the full parse, whose resolver refuses the external entity, does.
    doc = ("\ufeff" + '<!DOCTYPE t [<!ENTITY % pe SYSTEM "file:///nonexistent"> %pe;]><testsuite/>').encode("utf-32-le")
    with pytest.raises(DoctypeForbiddenError, match=r"external resource 'file:///nonexistent'"):
        juxsdk.parse_report(doc)
    doc = ("\ufeff" + "<!DOCTYPE testsuite><testsuite/>").encode("utf-32-le")
    with pytest.raises(DoctypeForbiddenError, match="DOCTYPE declarations are not allowed"):
        juxsdk.parse_report(doc)
    assert juxsdk.parse_report(("\ufeff" + "<testsuite tests='0'/>").encode("utf-32-le")).summary.tests == 0


def test_doctype_error_through_the_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from juxsdk.cli import cli

    path = tmp_path / "xxe.xml"
    path.write_bytes(("\ufeff<!--" + "x" * PAD + '--><!DOCTYPE t SYSTEM "file:///etc/passwd"><testsuite/>').encode("utf-16-le"))
    result = CliRunner().invoke(cli, ["verify", "--unsafe-accept-any-key", str(path)])
    assert result.exit_code == 3
    assert "DOCTYPE declarations are not allowed" in result.stdout
    assert "root:" not in result.stdout


def test_an_external_dtd_named_by_public_id_only_is_refused_by_that_name() -> None:
    # a UTF-32 document is parsed before its DOCTYPE is seen: the resolver refuses the DTD and
    # the error names what was asked for (the public identifier when the system one is empty)
    doc = ('\ufeff<!DOCTYPE r PUBLIC "-//juxsdk//probe" ""><testsuite/>').encode("utf-32-le")
    with pytest.raises(DoctypeForbiddenError, match="refers to the external resource '-//juxsdk//probe'"):
        juxsdk.parse_report(doc)
