"""Copies this network's own certificate authorities (an intercepting proxy's, say) into a
Debian tree the Debian way, so pip reaches PyPI from the tree as it does from this host; none on
a plain network. Then run update-ca-certificates in the tree.

usage: python3 host_cas.py TREE
"""
import re
import sys
from pathlib import Path

PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.S)
tree = Path(sys.argv[1])
host = Path("/etc/ssl/certs/ca-certificates.crt")
known = set(PEM.findall((tree / "etc/ssl/certs/ca-certificates.crt").read_text()))
extra = [cert for cert in PEM.findall(host.read_text()) if cert not in known] \
    if host.is_file() else []
for i, cert in enumerate(extra):
    (tree / "usr/local/share/ca-certificates" / f"host-network-{i}.crt").write_text(cert)
