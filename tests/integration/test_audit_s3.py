"""`jux audit` against an S3 store on moto's server, and bounded memory on a large prefix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest

import juxsdk
from juxsdk.trust import certificate_fingerprint
from tests.evidence_support import fill_store, policy_text, tampered_bytes
from tests.s3support import make_s3_store, s3_client, start_moto

ACCESS, SECRET, BUCKET = "AKIAAUDIT", "audit-secret", "jux-audit"


@pytest.fixture(scope="module")
def moto():
    server, url = start_moto(BUCKET, ACCESS, SECRET)
    yield url
    server.stop()


def test_audit_on_s3_names_exactly_the_bad_reports(moto, rsa_keys, ec_keys, tmp_path) -> None:
    store = make_s3_store(moto, access_key=ACCESS, secret_key=SECRET, prefix_root="audit", bucket=BUCKET)
    corpus = fill_store(store, rsa_keys.signer(), ec_keys.signer(), generated=20, per_defect=1, corpus=False)
    raw = s3_client(moto, ACCESS, SECRET)
    for h in corpus.of("tampered"):  # tamper at rest, behind the store's back
        key = f"{store.options.prefix}/reports/{h.partition(':')[2]}.xml"
        body = raw.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        raw.put_object(Bucket=BUCKET, Key=key, Body=tampered_bytes(body))
    policy = tmp_path / "p.toml"
    policy.write_text(policy_text(corpus, certificate_fingerprint(rsa_keys.cert)), encoding="utf-8")
    with juxsdk.Index(tmp_path / "i.sqlite3") as index:
        result = juxsdk.audit([store], policy=juxsdk.load_policy(policy), jobs=2, index=index)
        assert index.stats()["reports"] == len(corpus.kinds)
    store.close()
    assert {r.canonical_hash for r in result.reports} == set(corpus.kinds)
    assert {r.canonical_hash for r in result.reports if not r.ok} == corpus.bad()
    assert all(r.store == "s3" for r in result.reports)
    assert result.jobs == 2


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import juxsdk
    from juxsdk.config import Secret
    from juxsdk_backends.s3 import S3Store

    def main():
        url, prefix, cert = sys.argv[1:4]
        store = S3Store(S3Store.Options(bucket="%s", prefix=prefix, endpoint_url=url, region="us-east-1",
                        addressing_style="path", access_key_id=Secret(value="%s"),
                        secret_access_key=Secret(value="%s")))
        result = juxsdk.audit([store], trust=juxsdk.TrustedCertificates.from_pem_file(cert), jobs=2)
        # VmHWM: this process's peak RSS (ru_maxrss would include the forking parent's)
        with open("/proc/self/status") as fh:
            peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        print(json.dumps({"audited": len(result.reports), "ok": result.ok, "peak_kib": peak}))

    if __name__ == "__main__":
        main()
    """
) % (BUCKET, ACCESS, SECRET)


@pytest.mark.slow
def test_audit_of_a_large_prefix_runs_in_bounded_memory(moto, rsa_keys, tmp_path) -> None:
    """Auditing 4x more 1 MB reports must not raise the peak memory by anywhere near 4x their size."""
    from juxsdk.testing.samples import generate_report

    signer = rsa_keys.signer()
    raw = s3_client(moto, ACCESS, SECRET)
    script = tmp_path / "audit_memory.py"
    script.write_text(_MEMORY_SCRIPT, encoding="utf-8")
    peaks = {}
    for count in (12, 48):
        prefix = f"mem/{uuid.uuid4().hex}"
        for i in range(count):
            data = generate_report(tests=50, properties=[("run", f"{count}-{i}")], min_size=1_000_000)
            s = juxsdk.sign_report(juxsdk.parse_report(data), signer)
            hexd = s.canonical_hash.partition(":")[2]
            from juxsdk.models import stored_record

            record = stored_record(s, store="s3", location=f"s3://{BUCKET}/{prefix}/reports/{hexd}.xml")
            raw.put_object(Bucket=BUCKET, Key=f"{prefix}/reports/{hexd}.xml", Body=s.data)
            raw.put_object(Bucket=BUCKET, Key=f"{prefix}/reports/{hexd}.json",
                           Body=json.dumps(record.to_dict(), sort_keys=True).encode())
        proc = subprocess.run([sys.executable, str(script), moto, prefix, str(rsa_keys.cert_path)],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out == {"audited": count, "ok": True, "peak_kib": out["peak_kib"]}
        peaks[count] = out["peak_kib"] / 1024
    # 36 more reports of 1 MB: holding them would add > 36 MiB; bounded in-flight work adds little
    assert peaks[48] - peaks[12] < 20, peaks
