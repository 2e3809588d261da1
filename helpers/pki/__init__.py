"""Certificate authorities and certificates, on the operator's machine (``cryptography``).

Every certificate of the cluster is issued here, written under the cluster directory
(``inv.cluster_dir / "pki" / ...``, never in git) as ``<name>.crt`` and ``<name>.key``,
keys 0600 in a 0700 directory, and then uploaded to the hosts that need it.

Keys are ECDSA P-256: about as strong as RSA 3072, generated in a millisecond instead of
tens, with handshakes that are cheaper for the many short TLS connections a cluster
makes. Go's TLS stack (etcd, every Kubernetes component) and OpenSSL accept them.
CAs are valid for 10 years, leaf certificates for 1 year.

Everything is idempotent: an existing certificate is reused when it is still valid for
more than 30 days, is signed by the given CA, matches its key, and has the requested
subject, SANs and usages; otherwise it is re-issued and the reason is recorded in
``CertPair.detail``. A CA is never replaced silently: if an existing CA is unusable the
functions raise :class:`~helpers.errors.ConfigError` instead, because a new CA means
re-issuing every certificate and restarting every component that trusts it.

The package, one job per module (every public name is re-exported here):

- :mod:`~helpers.pki.model` - validity periods, usages, the key type, :class:`CertPair`;
- :mod:`~helpers.pki.names` - subject names and SANs (:func:`cert_sans`, :func:`normalize_sans`);
- :mod:`~helpers.pki.files` - pairs on disk (:func:`load_cert`, :func:`load_pair`, atomic writes);
- :mod:`~helpers.pki.reuse` - the reuse rules and :func:`verify_chain`;
- :mod:`~helpers.pki.issuing` - :func:`ensure_ca` and :func:`ensure_cert`;
- :mod:`~helpers.pki.root` - an organisation's root CA above the cluster's CAs (intermediates, CSRs);
- :mod:`~helpers.pki.tables` - :func:`cert_table`.
"""

from helpers.pki.files import load_cert, load_pair
from helpers.pki.issuing import ensure_ca, ensure_cert
from helpers.pki.model import (
    BACKDATE,
    CA_VALIDITY,
    DEFAULT_VALIDITY,
    LEAF_VALIDITY,
    RENEW_BEFORE,
    CertPair,
    Usage,
    Validity,
    validity_of,
)
from helpers.pki.names import cert_sans, normalize_sans
from helpers.pki.reuse import verify_chain
from helpers.pki.root import RootCA, is_intermediate, root_of, trust_file
from helpers.pki.tables import cert_table

__all__ = [
    "BACKDATE",
    "CA_VALIDITY",
    "LEAF_VALIDITY",
    "RENEW_BEFORE",
    "CertPair",
    "RootCA",
    "DEFAULT_VALIDITY",
    "Usage",
    "Validity",
    "cert_sans",
    "cert_table",
    "ensure_ca",
    "ensure_cert",
    "is_intermediate",
    "load_cert",
    "load_pair",
    "normalize_sans",
    "root_of",
    "trust_file",
    "validity_of",
    "verify_chain",
]
