"""Correctness against the predecessor, pytest-jux 0.6.3, on the whole shared corpus.

Run:  .venv/bin/python benchmarks/peer_correctness.py

For every well-formed corpus report, as written and in the compact one-line form pytest's own
junitxml writes (blank text removed), each tool signs it the way it ships (pytest-jux: its
plugin/`jux-sign` path, juxlib sign_xml then ``tostring(pretty_print=True)``; juxsdk:
``sign_report``) and the written bytes are checked by the tool's own verifier and by xmlsec1.
Then a signed report gets an extra ``<testsuite>`` of 500 fake passing tests hidden in a
``ds:Object`` inside the signature: does verification still pass, and how many tests does the
tool then report?
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = (HERE.parent / ".." / "shared" / "corpus" / "jux-test-fixtures").resolve()
WORK = HERE / ".work"

PEER = r'''
import json, sys
from pathlib import Path
from lxml import etree
from juxlib.signing.keys import load_private_key
from juxlib.signing.signer import sign_xml
from juxlib.signing.verifier import verify_signature
from juxlib.signing.xml import load_xml
workdir, out, files = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
key = load_private_key(workdir / "key.pem")
cert = (workdir / "cert.pem").read_bytes()
res = {}
for i, f in enumerate(files):
    signed = etree.tostring(sign_xml(load_xml(Path(f)), key, cert), xml_declaration=True, encoding="utf-8", pretty_print=True)
    p = out / f"peer-{i}.xml"; p.write_bytes(signed)
    res[f] = {"own_verify": verify_signature(load_xml(signed), cert), "path": str(p)}
# smuggling: compact signed output, extra testsuite in ds:Object
f = files[0]
root = sign_xml(load_xml(Path(f)), key, cert)
DS = "{http://www.w3.org/2000/09/xmldsig#}"
sig = root.find(DS + "Signature")
obj = etree.SubElement(sig, DS + "Object")
ts = etree.SubElement(obj, "testsuite", name="smuggled", tests="500")
for i in range(500):
    etree.SubElement(ts, "testcase", name=f"fake{i}")
tampered = etree.tostring(root)
(out / "peer-smuggled.xml").write_bytes(tampered)
tree = load_xml(tampered)
res["__smuggle__"] = {"own_verify": verify_signature(tree, cert), "tests_seen": len(tree.findall(".//testcase"))}
print(json.dumps(res))
'''


def xmlsec1_ok(path: Path, cert: Path) -> bool:
    r = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(cert), "--enabled-key-data", "x509,rsa", str(path)],
        capture_output=True,
    )
    return r.returncode == 0


def main() -> None:
    sys.path.insert(0, str(HERE))
    import bench_core

    bench_core.ensure_inputs([10])
    peer_py = bench_core.ensure_peer()
    from lxml import etree

    import juxsdk
    from juxsdk_backends.file_key import FileKeyOptions, FileKeySigner

    originals = sorted(
        p for p in CORPUS.rglob("*.xml") if "/malformed/" not in str(p) and p.name != "nightly-build.xml"
    )
    compact_dir = Path(tempfile.mkdtemp(prefix="compact-"))
    compact = []
    for i, p in enumerate(originals):
        tree = etree.fromstring(p.read_bytes(), etree.XMLParser(remove_blank_text=True)).getroottree()
        c = compact_dir / f"{i:03d}-{p.name}"
        c.write_bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))
        compact.append(str(c))
    files = [str(p) for p in originals] + compact
    cert = WORK / "cert.pem"
    signer = FileKeySigner(FileKeyOptions(key=WORK / "key.pem", certificate=cert))
    trust = juxsdk.TrustedCertificates.from_pem_file(cert)
    out = Path(tempfile.mkdtemp(prefix="peer-correctness-"))
    for i, f in enumerate(files):
        (out / f"ours-{i}.xml").write_bytes(juxsdk.sign_report(Path(f).read_bytes(), signer).data)
    # smuggling against juxsdk
    signed = juxsdk.sign_report(Path(files[0]).read_bytes(), signer)
    root = etree.fromstring(signed.data)
    ds = "{http://www.w3.org/2000/09/xmldsig#}"
    obj = etree.SubElement(root.find(ds + "Signature"), ds + "Object")
    ts = etree.SubElement(obj, "testsuite", name="smuggled", tests="500")
    for i in range(500):
        etree.SubElement(ts, "testcase", name=f"fake{i}")
    v = juxsdk.verify_report(etree.tostring(root), trust)
    ours_smuggle = {"verified": True, "tests_seen": v.summary.tests, "signed_tests": signed.summary.tests}

    peer = None
    if peer_py is not None:
        r = subprocess.run([str(peer_py), "-c", PEER, str(WORK), str(out), json.dumps(files)],
                           capture_output=True, text=True, check=True)
        peer = json.loads(r.stdout.strip().splitlines()[-1])
    n = len(files)
    half = len(originals)

    def peer_count(subset: list[str], check: str) -> str:
        if not peer:
            return "n/a"
        if check == "own":
            ok = sum(1 for f in subset if peer[f]["own_verify"])
        else:
            ok = sum(1 for f in subset if xmlsec1_ok(Path(peer[f]["path"]), cert))
        return f"{ok}/{len(subset)}"

    ours_split = {"own": [0, 0], "xmlsec1": [0, 0]}
    for i in range(n):
        p = out / f"ours-{i}.xml"
        part = 0 if i < half else 1
        ours_split["xmlsec1"][part] += xmlsec1_ok(p, cert)
        try:
            juxsdk.verify_report(p.read_bytes(), trust)
            ours_split["own"][part] += 1
        except juxsdk.VerificationError:
            pass
    lines = [
        f"Corpus: {half} well-formed reports, each as written and in compact one-line form; RSA-2048 key with certificate.",
        "",
        "| signed output file | juxsdk | pytest-jux 0.6.3 |",
        "|---|---:|---:|",
        f"| as written: verifies with the tool's own verifier | {ours_split['own'][0]}/{half} | {peer_count(files[:half], 'own')} |",
        f"| as written: verifies with xmlsec1 | {ours_split['xmlsec1'][0]}/{half} | {peer_count(files[:half], 'xmlsec1')} |",
        f"| compact (as pytest writes): verifies with the tool's own verifier | {ours_split['own'][1]}/{half} | {peer_count(files[half:], 'own')} |",
        f"| compact (as pytest writes): verifies with xmlsec1 | {ours_split['xmlsec1'][1]}/{half} | {peer_count(files[half:], 'xmlsec1')} |",
        "| 500 fake tests hidden in ds:Object: verification result | passes, reports "
        f"{ours_smuggle['tests_seen']} tests (the {ours_smuggle['signed_tests']} signed ones) and a warning | "
        + (
            f"{'passes' if peer['__smuggle__']['own_verify'] else 'fails'}, the verified tree holds "
            f"{peer['__smuggle__']['tests_seen']} tests" if peer else "n/a"
        )
        + " |",
    ]
    table = "\n".join(lines)
    print(table)
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- peer-correctness:start -->", "<!-- peer-correctness:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text += f"\n## Correctness against pytest-jux 0.6.3\n\n`python benchmarks/peer_correctness.py`\n\n{block}\n"
    readme.write_text(text)


if __name__ == "__main__":
    main()
