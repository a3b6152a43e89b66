"""Cost bounded by size (issue 10, class 2): hostile inputs answered in time linear in their size.

Each hostile shape is built at size n and 4n and processed in a child process (one per size),
which reports the seconds per case and its own peak RSS (VmHWM). Linear cost means the 4n time
stays within about 4× the n time; the slack (×2.5 plus a constant) keeps a loaded CI machine
from flaking, and is far below what the quadratic paths did before the limits (attributes on
one element: 0.5 s at 20 000, 19 s at 80 000). Every case also names the check that must refuse
it (or, for shapes within the limits, that it is accepted).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    r"""
    import copy, json, sys, time
    from pathlib import Path
    from lxml import etree
    import juxsdk

    n, key_path, cert_path = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner
    signer = FileKeySigner(FileKeyOptions(key=key_path, certificate=cert_path))
    pinned = juxsdk.TrustedCertificates.from_pem_file(cert_path)
    DS = "{http://www.w3.org/2000/09/xmldsig#}"
    BASE = b'<testsuite name="s" tests="1"><testcase name="a"/></testsuite>'
    signed = juxsdk.sign_report(BASE, signer).data

    def forged(edit):
        root = etree.fromstring(signed)
        edit(root.find(DS + "Signature"))
        return etree.tostring(root)

    def refs(sig):
        si = sig.find(DS + "SignedInfo"); ref = si.find(DS + "Reference")
        for _ in range(n // 10):
            si.append(copy.deepcopy(ref))

    def certs(sig):
        data = sig.find(DS + "KeyInfo/" + DS + "X509Data"); cert = data[0]
        for _ in range(n // 10):
            data.append(copy.deepcopy(cert))

    def b64(sig):
        sig.find(DS + "SignatureValue").text = "QUJD" * (n * 5)

    deep_open = "".join('<x%d xmlns:q="u:%d" q:a="1">' % (i, i) for i in range(60))
    deep_close = "".join("</x%d>" % i for i in reversed(range(60)))
    cases = {
        # (operation, document)
        "attributes-on-one-element": ("parse", b"<testsuite " + b" ".join(b'a%d="v"' % i for i in range(n)) + b"/>"),
        "attributes-on-signedinfo": ("verify", signed.replace(b"<ds:SignedInfo", b"<ds:SignedInfo " + b" ".join(
                                     b'a%d="v"' % i for i in range(n)), 1)),
        "namespaces-on-root": ("parse", b"<testsuite " + b" ".join(b'xmlns:p%d="u:%d"' % (i, i) for i in range(n // 4))
                                + b">" + b"<c/>" * n + b"</testsuite>"),
        "namespaces-on-signedinfo": ("verify", signed.replace(b"<ds:SignedInfo", b"<ds:SignedInfo " + b" ".join(
                                     b'xmlns:p%d="u:%d"' % (i, i) for i in range(n // 4)), 1)),
        "depth-times-leaves": ("parse", ("<testsuite>" + "<x>" * 60 + "<c/>" * n + "</x>" * 60 + "</testsuite>").encode()),
        "namespace-stack-times-leaves": ("parse", ('<testsuite xmlns:p="u:p">' + deep_open + "<p:l/>" * n + deep_close
                                                   + "</testsuite>").encode()),
        "too-deep": ("parse", ("<testsuite>" + "<x>" * (n // 10) + "</x>" * (n // 10) + "</testsuite>").encode()),
        "many-root-signatures": ("parse", b'<testsuite xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><testcase/>'
                                 + b"<ds:Signature/>tail" * (n // 4) + b"</testsuite>"),
        "many-nested-signatures": ("parse", b'<testsuite xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><testcase>'
                                   + b"<ds:Signature/>tail" * (n // 4) + b"</testcase></testsuite>"),
        "many-references": ("verify", forged(refs)),
        "many-certificates": ("verify", forged(certs)),
        "huge-base64": ("verify", forged(b64)),
    }
    out = {}
    for name, (op, doc) in cases.items():
        t = time.perf_counter()
        try:
            if op == "parse":
                juxsdk.parse_report(doc)
            else:
                juxsdk.verify_report(doc, pinned)
            outcome = "accepted"
        except juxsdk.JuxError as exc:
            outcome = type(exc).__name__
        out[name] = {"seconds": time.perf_counter() - t, "outcome": outcome, "bytes": len(doc)}
    hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
    print(json.dumps({"cases": out, "peak_kib": hwm}))
    """
)

EXPECTED = {
    "attributes-on-one-element": "ReportLimitError",
    "attributes-on-signedinfo": "SignatureLimitError",
    "namespaces-on-root": "ReportLimitError",
    "namespaces-on-signedinfo": "SignatureLimitError",
    "depth-times-leaves": "accepted",
    "namespace-stack-times-leaves": "accepted",
    "too-deep": "ReportLimitError",
    "many-root-signatures": "accepted",
    "many-nested-signatures": "accepted",
    "many-references": "SignatureLimitError",
    "many-certificates": "SignatureLimitError",
    "huge-base64": "SignatureLimitError",
}


def _run(n: int, keys) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(keys.key_path), str(keys.cert_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def measured(rsa_keys) -> tuple[dict, dict]:
    return _run(20_000, rsa_keys), _run(80_000, rsa_keys)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_input_costs_time_linear_in_its_size(measured, case: str) -> None:
    small, large = measured[0]["cases"][case], measured[1]["cases"][case]
    assert small["outcome"] == EXPECTED[case]
    assert large["outcome"] == EXPECTED[case]
    growth = large["bytes"] / small["bytes"]
    assert large["seconds"] <= small["seconds"] * growth * 2.5 + 0.3, (small, large)
    assert large["seconds"] < 5.0, large  # a few MB: seconds, not minutes


def test_hostile_inputs_have_bounded_peak_memory(measured) -> None:
    small, large = measured
    biggest = max(c["bytes"] for c in large["cases"].values())
    # interpreter + libraries (~40 MiB) + a parsed tree of a few MB each; far from gigabytes
    assert large["peak_kib"] < 60 * 1024 + 30 * biggest / 1024, (large["peak_kib"], biggest)
    assert large["peak_kib"] < small["peak_kib"] * 4 + 64 * 1024


def test_the_cases_are_the_size_we_think(measured) -> None:
    for case, result in measured[1]["cases"].items():
        assert result["bytes"] > 40_000, case  # every shape really is big at 4n
    assert Path(__file__).exists()
