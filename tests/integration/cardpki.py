"""cardpki: a test PKI shaped like IGC-Santé and CPS cards as SoftHSM2 tokens.

Each card is a SoftHSM2 token made in its own "drawer" directory; inserting a
card moves its token directory into the token directory the daemon's
SOFTHSM2_CONF names, removing it moves it back -- for SoftHSM, whose slots are
read at C_Initialize, that is what a reader sees when a card comes and goes."""
import datetime
import os
import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
CERT_LABEL = "Certificat d'Authentification CPS"
SO_PIN = "87654321"
NOW = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
DAY = datetime.timedelta(days=1)


def luhn_complete(prefix):
    """prefix + the Luhn check digit."""
    digits = [int(c) for c in prefix]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return prefix + str((10 - total % 10) % 10)


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(*rdns):
    return x509.Name([x509.RelativeDistinguishedName(r) for r in rdns])


def _attr(oid, value):
    return x509.NameAttribute(oid, value)


class CA:
    def __init__(self, cn, issuer=None):
        self.key = _key()
        self.name = _name([_attr(NameOID.COUNTRY_NAME, "FR")], [_attr(NameOID.ORGANIZATION_NAME, "ASIP-SANTE")],
                          [_attr(NameOID.COMMON_NAME, cn)])
        signer = issuer or self
        b = (x509.CertificateBuilder().subject_name(self.name)
             .issuer_name(signer.name).public_key(self.key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(NOW - 365 * DAY).not_valid_after(NOW + 3650 * DAY)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True))
        self.cert = b.sign(signer.key, hashes.SHA256())
        self.revoked = []

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, subject, not_before=None, not_after=None, key=None, digital_signature=True):
        key = key or _key()
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(not_before or NOW - 30 * DAY).not_valid_after(not_after or NOW + 3 * 365 * DAY)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature, False, False, False, False, False, False, False, False),
                            critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        return key, b.sign(self.key, hashes.SHA256())

    def crl_pem(self):
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
             .last_update(NOW - DAY).next_update(NOW + 7 * DAY))
        for serial in self.revoked:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                          .revocation_date(NOW - DAY).build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def cps_subject(national_id, sn, gn, title="Pharmacien"):
    """CN=<national id>+SN=<sn>+GN=<gn>, title=<title>, C=FR (the CPS authentication certificate)."""
    return _name([_attr(NameOID.COUNTRY_NAME, "FR")], [_attr(NameOID.TITLE, title)],
                 [_attr(NameOID.COMMON_NAME, national_id), _attr(NameOID.SURNAME, sn),
                  _attr(NameOID.GIVEN_NAME, gn)])


class Cards:
    """The card drawer and the reader (the live SoftHSM2 token directory)."""

    def __init__(self, root: Path):
        self.root = root
        self.live = root / "reader"
        self.live.mkdir(parents=True, exist_ok=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.live}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.cards = {}

    def make(self, name, key, cert, pin):
        drawer = self.root / "drawer" / name
        drawer.mkdir(parents=True)
        conf = self.root / f"{name}.conf"
        conf.write_text(f"directories.tokendir = {drawer}\nobjectstore.backend = file\nlog.level = ERROR\n")
        env = dict(os.environ, SOFTHSM2_CONF=str(conf))
        label = f"CPS-{name}"
        run = lambda *a: subprocess.run(a, env=env, check=True, capture_output=True, text=True)
        run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN)
        keyfile = self.root / f"{name}.key.pem"
        keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        run("softhsm2-util", "--import", str(keyfile), "--token", label, "--label", "Clé d'Authentification CPS",
            "--id", "01", "--pin", pin)
        keyfile.unlink()
        der = self.root / f"{name}.der"
        der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        run("pkcs11-tool", "--module", SOFTHSM, "--token-label", label, "--login", "--pin", pin,
            "--write-object", str(der), "--type", "cert", "--id", "01", "--label", CERT_LABEL)
        (token_dir,) = list(drawer.iterdir())
        self.cards[name] = (drawer, token_dir.name, cert)
        return label

    def insert(self, name):
        drawer, uuid, _ = self.cards[name]
        shutil.move(str(drawer / uuid), str(self.live / uuid))

    def remove(self, name):
        drawer, uuid, _ = self.cards[name]
        if (self.live / uuid).exists():
            shutil.move(str(self.live / uuid), str(drawer / uuid))

    def cert(self, name):
        return self.cards[name][2]

    def fingerprint(self, name):
        return "sha256:" + self.cert(name).fingerprint(hashes.SHA256()).hex()
