"""collect_iam_posture: authorization details, server certificates, SAML providers (moto) and Access Analyzer
(botocore Stubber), each part read on its own; saml_signing_certificates on real-shaped IdP metadata.

Where moto answers differently from AWS, the field is tested with botocore's Stubber on the shape of the IAM
API reference (the Stubber validates every response against botocore's service model):

* Access Analyzer is not in moto at all: every ``ListAnalyzers`` answer is stubbed.
* moto's ``GetAccountAuthorizationDetails`` has no ``PermissionsBoundary`` in ``UserDetailList`` (it has the
  role's), no ``PolicyName`` / ``PolicyId`` in ``Policies``, lists every AWS managed policy it knows
  (attached or not), never pages, and returns documents as objects where AWS sends them URL-encoded:
  :func:`test_authorization_details_as_aws_sends_them` covers those with the API's shape.
* moto's ``ListServerCertificates`` answers fixed dates (``UploadDate`` 2010-05-08, ``Expiration``
  2012-05-08) whatever certificate was uploaded: the real dates of an expired and a valid certificate are
  tested with the Stubber (:func:`test_server_certificates_paged_with_their_dates`).
* moto's ``ValidUntil`` of a SAML provider is a fixed 2032-05-09T16:27:11Z.

Certificates are generated with ``cryptography`` (self-signed, chosen ``not_valid_after``) and put in
metadata in the shape Entra ID, Okta, AD FS and Shibboleth publish.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from types import MappingProxyType
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors import ApiCalls
from identity_auditor.collectors.iam_posture import (
    MAX_METADATA_BYTES,
    PARTS,
    collect_iam_posture,
    saml_signing_certificates,
)
from identity_auditor.model.snapshots import (
    Analyzer,
    IamPrincipal,
    InlinePolicy,
    ManagedPolicy,
    SamlProvider,
    ServerCertificate,
    SigningCertificate,
)
from moto import mock_aws
from moto.iam.aws_managed_policies import aws_managed_policies_data

ACCOUNT = "123456789012"
UTC = timezone.utc
NO_SLEEP = RetryPolicy(sleep=lambda _seconds: None)
CREATED = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)

# -- certificates and metadata --------------------------------------------------------------------------

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(subject: x509.Name, not_after: datetime, serial: int) -> x509.Certificate:
    """A self-signed certificate as IdPs make for SAML signing (RSA 2048, SHA-256)."""
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(KEY.public_key())
            .serial_number(serial).not_valid_before(datetime(2023, 1, 1, tzinfo=UTC)).not_valid_after(not_after)
            .sign(KEY, hashes.SHA256()))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def b64(cert: x509.Certificate, *, wrap: int = 0) -> str:
    text = base64.b64encode(der(cert)).decode()
    if wrap:  # some IdPs wrap the base64 at 64 or 76 characters
        text = "\n".join(text[i:i + wrap] for i in range(0, len(text), wrap))
    return text


def sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(der(cert)).hexdigest()


def cn(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


ENTRA_EXPIRES = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
OKTA_EXPIRES = datetime(2026, 12, 20, 23, 59, 59, tzinfo=UTC)
ADFS_EXPIRES = datetime(2029, 6, 30, 12, 0, 0, tzinfo=UTC)
ENTRA_CERT = certificate(cn("Microsoft Azure Federated SSO Certificate"), ENTRA_EXPIRES, 0x1A2B3C)
OKTA_SUBJECT = x509.Name([  # how Okta names its SAML signing certificates
    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
    x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Okta"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SSOProvider"),
    x509.NameAttribute(NameOID.COMMON_NAME, "example-corp"),
    x509.NameAttribute(NameOID.EMAIL_ADDRESS, "info@okta.com"),
])
OKTA_CERT = certificate(OKTA_SUBJECT, OKTA_EXPIRES, 0x0190A1B2C3D4)
ADFS_SIGNING = certificate(cn("ADFS Signing - adfs.example.com"), ADFS_EXPIRES, 0x5F01)
ADFS_ENCRYPTION = certificate(cn("ADFS Encryption - adfs.example.com"), datetime(2024, 1, 1, tzinfo=UTC), 0x5F02)

ENTRA_SIGNING = SigningCertificate("CN=Microsoft Azure Federated SSO Certificate", ENTRA_EXPIRES, sha256(ENTRA_CERT))
OKTA_SIGNING = SigningCertificate(
    "1.2.840.113549.1.9.1=info@okta.com,CN=example-corp,OU=SSOProvider,O=Okta,L=San Francisco,ST=California,C=US",
    OKTA_EXPIRES, sha256(OKTA_CERT))
ADFS_SIGNING_CERT = SigningCertificate("CN=ADFS Signing - adfs.example.com", ADFS_EXPIRES, sha256(ADFS_SIGNING))

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


MD, DS = "urn:oasis:names:tc:SAML:2.0:metadata", "http://www.w3.org/2000/09/xmldsig#"
ENTRA_LOGIN = f"https://login.microsoftonline.com/{TENANT}"
WSFED = "http://docs.oasis-open.org/wsfed/federation/200706"


def entra_metadata(signing: str, other: str | None = None) -> str:
    """Federation metadata as Entra ID publishes it (one line): the document's own Signature, a
    WS-Federation RoleDescriptor and the SAML IDPSSODescriptor, each with the tenant's certificate
    (``other``: another certificate in the Signature and the RoleDescriptor)."""
    other = other or signing
    document_id = "_4f1c2d8e-3b6a-4c1e-9a7d-5e2f8b9c0d1a"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EntityDescriptor ID="{document_id}" entityID="https://sts.windows.net/{TENANT}/" xmlns="{MD}">'
        f'<Signature xmlns="{DS}"><SignedInfo>'
        '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" />'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" />'
        f'<Reference URI="#{document_id}"><Transforms>'
        '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />'
        '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" /></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" />'
        '<DigestValue>q2Vn0p6bE4t3Xb7Qk5mJm8f2y1pQ0h9r3Qz6N1cVb4s=</DigestValue></Reference></SignedInfo>'
        '<SignatureValue>VGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSB2YWx1ZQ==</SignatureValue>'
        f'<KeyInfo><X509Data><X509Certificate>{other}</X509Certificate></X509Data></KeyInfo></Signature>'
        f'<RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="{WSFED}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="{WSFED}">'
        f'<KeyDescriptor use="signing"><KeyInfo xmlns="{DS}"><X509Data><X509Certificate>{other}</X509Certificate>'
        '</X509Data></KeyInfo></KeyDescriptor>'
        '<fed:ClaimTypesOffered><auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name" '
        'xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706"><auth:DisplayName>Name</auth:DisplayName>'
        '</auth:ClaimType></fed:ClaimTypesOffered><fed:PassiveRequestorEndpoint>'
        '<wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">'
        f'<wsa:Address>{ENTRA_LOGIN}/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>'
        '</RoleDescriptor>'
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<KeyDescriptor use="signing"><KeyInfo xmlns="{DS}"><X509Data><X509Certificate>{signing}</X509Certificate>'
        '</X509Data></KeyInfo></KeyDescriptor>'
        '<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{ENTRA_LOGIN}/saml2" />'
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{ENTRA_LOGIN}/saml2" />'
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{ENTRA_LOGIN}/saml2" />'
        '</IDPSSODescriptor></EntityDescriptor>'
    )


def okta_metadata(certificate_text: str) -> str:
    """The metadata of an Okta "AWS Account Federation" app (one line, md: and ds: prefixes, one signing key)."""
    app = "exk1a2b3c4d5E6F7g8h9"
    sso = f"https://example-corp.okta.com/app/amazon_aws/{app}/sso/saml"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<md:EntityDescriptor entityID="http://www.okta.com/{app}" xmlns:md="{MD}">'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>'
        f'<ds:X509Certificate>{certificate_text}</ds:X509Certificate>'
        '</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
        '<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>'
        '<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>'
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/>'
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>'
        '</md:IDPSSODescriptor></md:EntityDescriptor>'
    )


def adfs_metadata(signing: str, encryption: str) -> str:
    """AD FS FederationMetadata.xml, IDPSSODescriptor part: an encryption key and a signing key."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<EntityDescriptor ID="_a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d"
    entityID="http://adfs.example.com/adfs/services/trust" xmlns="{MD}">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="encryption">
      <KeyInfo xmlns="{DS}">
        <X509Data>
          <X509Certificate>{encryption}</X509Certificate>
        </X509Data>
      </KeyInfo>
    </KeyDescriptor>
    <KeyDescriptor use="signing">
      <KeyInfo xmlns="{DS}">
        <X509Data>
          <X509Certificate>{signing}</X509Certificate>
        </X509Data>
      </KeyInfo>
    </KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://adfs.example.com/adfs/ls/" />
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://adfs.example.com/adfs/ls/" />
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://adfs.example.com/adfs/ls/" />
  </IDPSSODescriptor>
</EntityDescriptor>"""


def shibboleth_metadata(*certificate_texts: str) -> str:
    """Shibboleth IdP metadata: KeyDescriptors without ``use`` (the key serves both purposes)."""
    keys = "".join(f"""
    <KeyDescriptor>
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>
{text}
          </ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </KeyDescriptor>""" for text in certificate_texts)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<EntityDescriptor xmlns="{MD}" xmlns:ds="{DS}" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0"
    entityID="https://idp.example.edu/idp/shibboleth">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <Extensions><shibmd:Scope regexp="false">example.edu</shibmd:Scope></Extensions>{keys}
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://idp.example.edu/idp/profile/SAML2/POST/SSO"/>
  </IDPSSODescriptor>
</EntityDescriptor>"""


NOT_A_CERTIFICATE = base64.b64encode(b"this is not a DER certificate; " * 40).decode()


def load_error(data: bytes) -> str:
    """What cryptography says of bytes that are not a DER certificate (its wording varies by version)."""
    try:
        x509.load_der_x509_certificate(data)
    except ValueError as error:
        return str(error)
    raise AssertionError("loaded")


LOAD_ERROR = load_error(base64.b64decode(NOT_A_CERTIFICATE))

# -- the moto world --------------------------------------------------------------------------------------

ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEPLOY_V1 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
DEPLOY_V2 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::example-deploy/*"}]}
BOUNDARY_DOCUMENT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["support:*", "cloudwatch:Get*"], "Resource": "*"}]}
ALICE_INLINE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]}
SUPPORT_INLINE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"}]}
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
CLOUDSHELL = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
SUPPORT = "arn:aws:iam::aws:policy/AWSSupportAccess"
MOTO_VALID_UNTIL = datetime(2032, 5, 9, 16, 27, 11, tzinfo=UTC)


def pem_pair(name: str, not_after: datetime, serial: int) -> tuple[str, str]:
    cert = certificate(cn(name), not_after, serial)
    key = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key.decode()


@pytest.fixture(scope="module")
def world():
    """An account with a user, a group, a role, customer and AWS managed policies, two server certificates
    and four SAML providers, built once in moto (AWS managed policies loaded, so that they can be attached)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        with mock_aws():
            iam = boto3.client("iam", region_name="us-east-1")
            ids: dict[str, str] = {}
            full_admin = iam.create_policy(PolicyName="FullAdmin", PolicyDocument=json.dumps(ADMIN_DOCUMENT))["Policy"]
            deploy = iam.create_policy(PolicyName="DeployPolicy", Path="/ci/",
                                       PolicyDocument=json.dumps(DEPLOY_V1))["Policy"]
            iam.create_policy_version(PolicyArn=deploy["Arn"], PolicyDocument=json.dumps(DEPLOY_V2), SetAsDefault=True)
            boundary = iam.create_policy(PolicyName="SupportBoundary", Path="/boundaries/",
                                         PolicyDocument=json.dumps(BOUNDARY_DOCUMENT))["Policy"]

            ids["alice"] = iam.create_user(UserName="alice", Path="/people/")["User"]["UserId"]
            ids["bob"] = iam.create_user(UserName="bob")["User"]["UserId"]
            ids["admins"] = iam.create_group(GroupName="admins")["Group"]["GroupId"]
            iam.add_user_to_group(GroupName="admins", UserName="alice")
            iam.attach_user_policy(UserName="alice", PolicyArn=deploy["Arn"])
            iam.attach_user_policy(UserName="alice", PolicyArn=CLOUDSHELL)
            iam.put_user_policy(UserName="alice", PolicyName="describe-instances",
                                PolicyDocument=json.dumps(ALICE_INLINE))
            iam.attach_group_policy(GroupName="admins", PolicyArn=full_admin["Arn"])
            ids["support"] = iam.create_role(RoleName="support", Path="/ops/",
                                             AssumeRolePolicyDocument=json.dumps(TRUST),
                                             PermissionsBoundary=boundary["Arn"])["Role"]["RoleId"]
            iam.attach_role_policy(RoleName="support", PolicyArn=SUPPORT)
            iam.put_role_policy(RoleName="support", PolicyName="metrics", PolicyDocument=json.dumps(SUPPORT_INLINE))

            for name, not_after, serial in (("web-2025", datetime(2025, 6, 30, tzinfo=UTC), 0x100),
                                            ("web-2028", datetime(2028, 1, 31, tzinfo=UTC), 0x101)):
                body, key = pem_pair(f"{name}.example.com", not_after, serial)
                metadata = iam.upload_server_certificate(ServerCertificateName=name, Path="/cloudfront/",
                                                         CertificateBody=body, PrivateKey=key)
                ids[name] = metadata["ServerCertificateMetadata"]["ServerCertificateId"]

            for name, document in (("EntraID", entra_metadata(b64(ENTRA_CERT))),
                                   ("Okta", okta_metadata(b64(OKTA_CERT))),
                                   ("ADFS", adfs_metadata(b64(ADFS_SIGNING, wrap=64), b64(ADFS_ENCRYPTION))),
                                   ("Broken", okta_metadata(NOT_A_CERTIFICATE))):
                iam.create_saml_provider(Name=name, SAMLMetadataDocument=document)
            yield iam, ids, {"FullAdmin": full_admin, "DeployPolicy": deploy, "SupportBoundary": boundary}


def analyzer_client(region: str) -> boto3.client:
    client = boto3.client("accessanalyzer", region_name=region)
    client.stubber = Stubber(client)
    client.stubber.activate()
    return client


def analyzer_summary(region: str, name: str, kind: str, status: str, account: str = ACCOUNT) -> dict:
    """An ``AnalyzerSummary`` of ``ListAnalyzers`` (API reference shape)."""
    summary = {"arn": f"arn:aws:access-analyzer:{region}:{account}:analyzer/{name}", "name": name, "type": kind,
               "createdAt": CREATED, "status": status, "tags": {}}
    if status == "ACTIVE":
        summary.update(lastResourceAnalyzed=f"arn:aws:s3:::example-logs-{region}",
                       lastResourceAnalyzedAt=datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    if status == "FAILED":
        summary["statusReason"] = {"code": "SERVICE_LINKED_ROLE_CREATION_FAILED"}
    return summary


def denied(client, operation: str, action: str, code: str = "AccessDeniedException", status: int = 403) -> str:
    message = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/IdentityAuditor/audit is not authorized to perform: "
               f"{action} because no identity-based policy allows the {action} action")
    client.stubber.add_client_error(operation, service_error_code=code, service_message=message,
                                    http_status_code=status)
    return message


def test_the_world_as_moto_answers(world):
    iam, ids, created = world
    east, west, sydney = (analyzer_client(region) for region in ("us-east-1", "eu-west-1", "ap-southeast-2"))
    console = analyzer_summary("us-east-1", "ConsoleAnalyzer-4c2f6e8a-1b3d-4f5a-9c7e-2d4b6f8a0c1e", "ACCOUNT", "ACTIVE")
    unused = analyzer_summary("us-east-1", "UnusedAccess-90days", "ACCOUNT_UNUSED_ACCESS", "ACTIVE")
    unused["configuration"] = {"unusedAccess": {"unusedAccessAge": 90}}
    org = analyzer_summary("us-east-1", "OrgAnalyzer", "ORGANIZATION", "DISABLED", account="111122223333")
    east.stubber.add_response("list_analyzers", {"analyzers": [console, unused], "nextToken": "eyJwYWdlIjoyfQ=="}, {})
    east.stubber.add_response("list_analyzers", {"analyzers": [org]}, {"nextToken": "eyJwYWdlIjoyfQ=="})
    message = denied(west, "list_analyzers", "access-analyzer:ListAnalyzers")
    sydney.stubber.add_response("list_analyzers", {"analyzers": []}, {})
    calls = ApiCalls()

    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls,
                                  analyzers={"us-east-1": east, "eu-west-1": west, "ap-southeast-2": sydney})

    for client in (east, west, sydney):
        client.stubber.assert_no_pending_responses()
    assert posture.account_id == ACCOUNT and posture.partition == "aws"
    assert posture.users == (
        IamPrincipal("user", "alice", f"arn:aws:iam::{ACCOUNT}:user/people/alice", ids["alice"], "/people/",
                     attached=(created["DeployPolicy"]["Arn"], CLOUDSHELL),
                     inline=(InlinePolicy("describe-instances", ALICE_INLINE),), groups=("admins",)),
        IamPrincipal("user", "bob", f"arn:aws:iam::{ACCOUNT}:user/bob", ids["bob"], "/", attached=()),
    )
    assert posture.groups == (
        IamPrincipal("group", "admins", f"arn:aws:iam::{ACCOUNT}:group/admins", ids["admins"], "/",
                     attached=(created["FullAdmin"]["Arn"],)),
    )
    assert posture.roles == (
        IamPrincipal("role", "support", f"arn:aws:iam::{ACCOUNT}:role/ops/support", ids["support"], "/ops/",
                     attached=(SUPPORT,), inline=(InlinePolicy("metrics", SUPPORT_INLINE),),
                     permissions_boundary=created["SupportBoundary"]["Arn"]),
    )
    # moto lists every AWS managed policy it knows; those attached nowhere are kept too (AttachmentCount 0)
    relevant = {policy.arn: policy for policy in posture.policies if not policy.aws_managed or policy.attachment_count}
    cloudshell_document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["cloudshell:*"], "Resource": "*"}]}
    support_document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["support:*", "support-console:*"], "Resource": "*"}]}
    assert relevant == {
        created["FullAdmin"]["Arn"]: ManagedPolicy(created["FullAdmin"]["Arn"], "FullAdmin", None, "/", 1,
                                                   ADMIN_DOCUMENT),
        created["DeployPolicy"]["Arn"]: ManagedPolicy(created["DeployPolicy"]["Arn"], "DeployPolicy", None, "/ci/", 1,
                                                      DEPLOY_V2),  # the default version, v2
        created["SupportBoundary"]["Arn"]: ManagedPolicy(created["SupportBoundary"]["Arn"], "SupportBoundary", None,
                                                         "/boundaries/", 0, BOUNDARY_DOCUMENT),
        CLOUDSHELL: ManagedPolicy(CLOUDSHELL, "AWSCloudShellFullAccess", None, "/", 1, cloudshell_document,
                                  aws_managed=True),
        SUPPORT: ManagedPolicy(SUPPORT, "AWSSupportAccess", None, "/", 1, support_document, aws_managed=True),
    }
    others = [policy for policy in posture.policies if policy.arn not in relevant]
    assert len(others) == len(json.loads(aws_managed_policies_data)) - 2
    assert all(policy.aws_managed and policy.arn.startswith("arn:aws:iam::aws:policy/") for policy in others)

    # moto answers fixed dates for every server certificate (see the module docs)
    assert posture.server_certificates == tuple(
        ServerCertificate(name, f"arn:aws:iam::{ACCOUNT}:server-certificate/cloudfront/{name}", ids[name],
                          "/cloudfront/", datetime(2012, 5, 8, 1, 2, 3, 4000, tzinfo=UTC),
                          datetime(2010, 5, 8, 1, 2, 3, 4000, tzinfo=UTC))
        for name in ("web-2025", "web-2028"))
    assert all(cert.expiration.tzinfo is UTC for cert in posture.server_certificates)

    saml = f"arn:aws:iam::{ACCOUNT}:saml-provider/"
    assert posture.saml_providers == (
        SamlProvider(saml + "EntraID", "EntraID", MOTO_VALID_UNTIL, (ENTRA_SIGNING,)),
        SamlProvider(saml + "Okta", "Okta", MOTO_VALID_UNTIL, (OKTA_SIGNING,)),
        SamlProvider(saml + "ADFS", "ADFS", MOTO_VALID_UNTIL, (ADFS_SIGNING_CERT,)),  # not the encryption key
        SamlProvider(saml + "Broken", "Broken", MOTO_VALID_UNTIL, (), unreadable=(
            f"signing certificate 1 could not be loaded: {LOAD_ERROR}")),
    )
    assert posture.analyzers == {
        "us-east-1": (
            Analyzer(console["arn"], console["name"], "ACCOUNT", "ACTIVE", "us-east-1"),
            Analyzer(unused["arn"], "UnusedAccess-90days", "ACCOUNT_UNUSED_ACCESS", "ACTIVE", "us-east-1"),
            Analyzer("arn:aws:access-analyzer:us-east-1:111122223333:analyzer/OrgAnalyzer", "OrgAnalyzer",
                     "ORGANIZATION", "DISABLED", "us-east-1"),
        ),
        "ap-southeast-2": (),
    }
    assert isinstance(posture.analyzers, MappingProxyType) and isinstance(posture.unavailable, MappingProxyType)
    assert posture.unavailable == {"analyzers:eu-west-1": f"ListAnalyzers: AccessDeniedException: {message}"}
    assert dict(calls.by_operation) == {"get_account_authorization_details": 1, "list_server_certificates": 1,
                                        "list_saml_providers": 1, "get_saml_provider": 4, "list_analyzers": 4}
    assert calls.total == 11


def test_a_call_counter_is_created_when_none_is_given(world):
    iam, _ids, _created = world
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", parts=["server_certificates"])
    assert [cert.name for cert in posture.server_certificates] == ["web-2025", "web-2028"]


# -- parts, failures, retries (Stubber) ------------------------------------------------------------------


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


GAAD_PARAMS = {"Filter": ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"], "MaxItems": 1000}
EMPTY_GAAD = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": [], "IsTruncated": False}


def encoded(document: dict) -> str:
    """A policy document as the IAM API sends it: URL-encoded JSON (RFC 3986)."""
    return quote(json.dumps(document), safe="")


def test_authorization_details_as_aws_sends_them(iam):
    """Two pages (Marker), URL-encoded documents, PolicyName/PolicyId, a user's PermissionsBoundary, a
    default version that is not the first, a document that is not JSON: the fields moto does not give."""
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/boundaries/DeveloperBoundary"
    admin_arn = f"arn:aws:iam::{ACCOUNT}:policy/FullAdmin"
    page_one = {
        "UserDetailList": [{
            "Path": "/", "UserName": "carol", "UserId": "AIDAJQABLZS4A3QDU576Q", "CreateDate": CREATED,
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/carol",
            "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": encoded(ADMIN_DOCUMENT)}],
            "GroupList": ["developers", "on-call"],
            "AttachedManagedPolicies": [{"PolicyName": "FullAdmin", "PolicyArn": admin_arn}],
            "PermissionsBoundary": {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                    "PermissionsBoundaryArn": boundary_arn},
            "Tags": [{"Key": "team", "Value": "platform"}],
        }],
        "GroupDetailList": [{
            "Path": "/", "GroupName": "developers", "GroupId": "AGPAIZ6HUBSCRKBXQ2FPQ", "CreateDate": CREATED,
            "Arn": f"arn:aws:iam::{ACCOUNT}:group/developers", "GroupPolicyList": [], "AttachedManagedPolicies": [],
        }],
        "RoleDetailList": [],
        "Policies": [],
        "IsTruncated": True,
        "Marker": "AQEBAHjVVGgEEvFTbGPD3y9v",
    }
    page_two = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [{
            "Path": "/", "RoleName": "legacy", "RoleId": "AROAJ52OTH4H7LEXAMPLE", "CreateDate": CREATED,
            "Arn": f"arn:aws:iam::{ACCOUNT}:role/legacy",
            "AssumeRolePolicyDocument": encoded(TRUST),
            "InstanceProfileList": [],
            "RolePolicyList": [{"PolicyName": "broken", "PolicyDocument": "not%20a%20policy"}],
            "AttachedManagedPolicies": [],
            "Tags": [],
            "RoleLastUsed": {},
        }],
        "Policies": [
            {"PolicyName": "FullAdmin", "PolicyId": "ANPAJ2UCCR6DPCEXAMPLE", "Arn": admin_arn, "Path": "/",
             "DefaultVersionId": "v2", "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0,
             "IsAttachable": True, "CreateDate": CREATED, "UpdateDate": CREATED,
             "PolicyVersionList": [
                 {"Document": encoded(DEPLOY_V1), "VersionId": "v1", "IsDefaultVersion": False, "CreateDate": CREATED},
                 {"Document": encoded(ADMIN_DOCUMENT), "VersionId": "v2", "IsDefaultVersion": True,
                  "CreateDate": CREATED},
             ]},
            {"PolicyName": "DeveloperBoundary", "PolicyId": "ANPAIDEVBOUNDARYEXAMP", "Arn": boundary_arn,
             "Path": "/boundaries/", "DefaultVersionId": "v1", "AttachmentCount": 0,
             "PermissionsBoundaryUsageCount": 1, "IsAttachable": True, "CreateDate": CREATED, "UpdateDate": CREATED,
             "PolicyVersionList": [{"Document": encoded(BOUNDARY_DOCUMENT), "VersionId": "v1",
                                    "IsDefaultVersion": True, "CreateDate": CREATED}]},
            {"PolicyName": "ReadOnlyAccess", "PolicyId": "ANPAILL3HVNFSB6DCOWYQ",
             "Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "Path": "/", "DefaultVersionId": "v120",
             "AttachmentCount": 2, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
             "CreateDate": CREATED, "UpdateDate": CREATED, "PolicyVersionList": []},
        ],
        "IsTruncated": False,
    }
    iam.stubber.add_response("get_account_authorization_details", page_one, GAAD_PARAMS)
    iam.stubber.add_response("get_account_authorization_details", page_two,
                             {**GAAD_PARAMS, "Marker": "AQEBAHjVVGgEEvFTbGPD3y9v"})
    calls = ApiCalls()

    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls, parts=["authorization"])

    assert posture.users == (IamPrincipal(
        "user", "carol", f"arn:aws:iam::{ACCOUNT}:user/carol", "AIDAJQABLZS4A3QDU576Q", "/", attached=(admin_arn,),
        inline=(InlinePolicy("all", ADMIN_DOCUMENT),),  # boto3 decoded the URL-encoded JSON
        groups=("developers", "on-call"), permissions_boundary=boundary_arn),)
    assert posture.groups == (IamPrincipal("group", "developers", f"arn:aws:iam::{ACCOUNT}:group/developers",
                                           "AGPAIZ6HUBSCRKBXQ2FPQ", "/", attached=()),)
    assert posture.roles == (IamPrincipal("role", "legacy", f"arn:aws:iam::{ACCOUNT}:role/legacy",
                                          "AROAJ52OTH4H7LEXAMPLE", "/", attached=(),
                                          inline=(InlinePolicy("broken", "not%20a%20policy"),)),)
    assert posture.policies == (
        ManagedPolicy(admin_arn, "FullAdmin", "ANPAJ2UCCR6DPCEXAMPLE", "/", 1, ADMIN_DOCUMENT),
        ManagedPolicy(boundary_arn, "DeveloperBoundary", "ANPAIDEVBOUNDARYEXAMP", "/boundaries/", 0,
                      BOUNDARY_DOCUMENT),
        ManagedPolicy("arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnlyAccess", "ANPAILL3HVNFSB6DCOWYQ", "/", 2,
                      None, aws_managed=True),  # no version listed: no document
    )
    assert posture.unavailable == {part: "not collected: this part was not asked for"
                                   for part in ("server_certificates", "saml_providers")}
    assert calls.total == 2


def test_default_version_found_by_its_id_when_none_is_flagged(iam):
    arn = f"arn:aws:iam::{ACCOUNT}:policy/Deploy"
    iam.stubber.add_response("get_account_authorization_details", {**EMPTY_GAAD, "Policies": [
        {"PolicyName": "Deploy", "PolicyId": "ANPAJDEPLOYEXAMPLE01", "Arn": arn, "Path": "/", "DefaultVersionId": "v3",
         "AttachmentCount": 0, "PolicyVersionList": [
             {"Document": encoded(DEPLOY_V1), "VersionId": "v1"},
             {"Document": encoded(DEPLOY_V2), "VersionId": "v3"}]}]}, GAAD_PARAMS)
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", parts=["authorization"])
    assert posture.policies == (ManagedPolicy(arn, "Deploy", "ANPAJDEPLOYEXAMPLE01", "/", 0, DEPLOY_V2),)


def test_server_certificates_paged_with_their_dates(iam):
    def metadata(name: str, certificate_id: str, uploaded: datetime, expiration: datetime) -> dict:
        return {"Path": "/", "ServerCertificateName": name, "ServerCertificateId": certificate_id,
                "Arn": f"arn:aws:iam::{ACCOUNT}:server-certificate/{name}", "UploadDate": uploaded,
                "Expiration": expiration}

    expired = metadata("legacy-elb", "ASCACKCEVSQ6C2EXAMPLE", datetime(2023, 6, 1, 12, tzinfo=UTC),
                       datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC))
    valid = metadata("api-2028", "ASCAJZQ2U7JSXEXAMPLE", datetime(2026, 2, 1, 9, 30, tzinfo=UTC),
                     datetime(2028, 1, 31, 0, 0, tzinfo=UTC))
    iam.stubber.add_response("list_server_certificates",
                             {"ServerCertificateMetadataList": [expired], "IsTruncated": True, "Marker": "m1"},
                             {"MaxItems": 1000})
    iam.stubber.add_response("list_server_certificates",
                             {"ServerCertificateMetadataList": [valid], "IsTruncated": False},
                             {"MaxItems": 1000, "Marker": "m1"})
    calls = ApiCalls()
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls,
                                  parts=["server_certificates"])
    assert posture.server_certificates == (
        ServerCertificate("legacy-elb", expired["Arn"], "ASCACKCEVSQ6C2EXAMPLE", "/",
                          datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC), datetime(2023, 6, 1, 12, tzinfo=UTC)),
        ServerCertificate("api-2028", valid["Arn"], "ASCAJZQ2U7JSXEXAMPLE", "/", datetime(2028, 1, 31, tzinfo=UTC),
                          datetime(2026, 2, 1, 9, 30, tzinfo=UTC)),
    )
    assert calls.total == 2


def test_one_part_failing_leaves_the_others_read(iam):
    gaad = denied(iam, "get_account_authorization_details", "iam:GetAccountAuthorizationDetails",
                  code="AccessDenied")
    iam.stubber.add_response("list_server_certificates", {"ServerCertificateMetadataList": [], "IsTruncated": False},
                             {"MaxItems": 1000})
    okta_arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
    iam.stubber.add_response("list_saml_providers", {"SAMLProviderList": [
        {"Arn": okta_arn, "ValidUntil": datetime(2125, 1, 1, tzinfo=UTC), "CreateDate": CREATED}]}, {})
    iam.stubber.add_response("get_saml_provider", {
        "SAMLProviderUUID": "p-3b1e7c9a2d4f6e8a0c2b4d6f", "SAMLMetadataDocument": okta_metadata(b64(OKTA_CERT)),
        "CreateDate": CREATED, "ValidUntil": datetime(2125, 1, 1, tzinfo=UTC), "Tags": [],
        "AssertionEncryptionMode": "Allowed", "PrivateKeyList": []}, {"SAMLProviderArn": okta_arn})
    calls = ApiCalls()

    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls, parts=PARTS)

    assert posture.unavailable == {"authorization": f"GetAccountAuthorizationDetails: AccessDenied: {gaad}"}
    assert posture.users == posture.groups == posture.roles == posture.policies == ()
    assert posture.server_certificates == ()
    assert posture.saml_providers == (
        SamlProvider(okta_arn, "Okta", datetime(2125, 1, 1, tzinfo=UTC), (OKTA_SIGNING,)),)
    assert posture.analyzers == {}
    assert calls.total == 4  # AccessDenied is not retried


def test_a_provider_that_cannot_be_read_makes_the_saml_part_unavailable(iam):
    arns = [f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}" for name in ("Gone", "Okta", "Locked")]
    iam.stubber.add_response("list_saml_providers", {"SAMLProviderList": [
        {"Arn": arn, "ValidUntil": datetime(2125, 1, 1, tzinfo=UTC), "CreateDate": CREATED} for arn in arns]}, {})
    iam.stubber.add_client_error("get_saml_provider", service_error_code="NoSuchEntity", http_status_code=404,
                                 service_message=f"Manifest not found for arn {arns[0]}",
                                 expected_params={"SAMLProviderArn": arns[0]})
    iam.stubber.add_response("get_saml_provider", {"SAMLMetadataDocument": okta_metadata(b64(OKTA_CERT)),
                                                   "ValidUntil": datetime(2125, 1, 1, tzinfo=UTC)},
                             {"SAMLProviderArn": arns[1]})
    message = denied(iam, "get_saml_provider", "iam:GetSAMLProvider", code="AccessDenied")

    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", parts={"saml_providers"})

    assert posture.saml_providers == ()
    assert posture.unavailable["saml_providers"] == f"GetSAMLProvider: AccessDenied: {message}"


def test_a_provider_deleted_between_list_and_get_is_left_out(iam):
    arns = [f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}" for name in ("Gone", "Okta")]
    iam.stubber.add_response("list_saml_providers", {"SAMLProviderList": [
        {"Arn": arn, "ValidUntil": datetime(2125, 1, 1, tzinfo=UTC), "CreateDate": CREATED} for arn in arns]}, {})
    iam.stubber.add_client_error("get_saml_provider", service_error_code="NoSuchEntity", http_status_code=404,
                                 service_message=f"Manifest not found for arn {arns[0]}",
                                 expected_params={"SAMLProviderArn": arns[0]})
    # ValidUntil absent from GetSAMLProvider: the listed one is used
    iam.stubber.add_response("get_saml_provider", {"SAMLMetadataDocument": okta_metadata(b64(OKTA_CERT))},
                             {"SAMLProviderArn": arns[1]})
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", parts={"saml_providers"})
    assert posture.saml_providers == (SamlProvider(arns[1], "Okta", datetime(2125, 1, 1, tzinfo=UTC),
                                                   (OKTA_SIGNING,)),)
    assert "saml_providers" not in posture.unavailable


def test_no_saml_provider_and_no_server_certificate(iam):
    iam.stubber.add_response("list_server_certificates", {"ServerCertificateMetadataList": [], "IsTruncated": False},
                             {"MaxItems": 1000})
    iam.stubber.add_response("list_saml_providers", {"SAMLProviderList": []}, {})
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws",
                                  parts=("server_certificates", "saml_providers"))
    assert posture.server_certificates == () and posture.saml_providers == ()
    assert set(posture.unavailable) == {"authorization"}


def test_throttling_is_retried_and_counted(iam):
    iam.stubber.add_client_error("get_account_authorization_details", service_error_code="Throttling",
                                 service_message="Rate exceeded", http_status_code=400)
    iam.stubber.add_response("get_account_authorization_details", EMPTY_GAAD, GAAD_PARAMS)
    calls = ApiCalls(NO_SLEEP)
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls, parts=["authorization"])
    assert "authorization" not in posture.unavailable and posture.users == ()
    assert calls.total == 2 and calls.by_operation["get_account_authorization_details"] == 2


def test_throttling_to_the_end_makes_the_part_unavailable(iam):
    for _ in range(NO_SLEEP.max_attempts):
        iam.stubber.add_client_error("list_saml_providers", service_error_code="Throttling",
                                     service_message="Rate exceeded", http_status_code=400)
    calls = ApiCalls(NO_SLEEP)
    posture = collect_iam_posture(iam, account_id=ACCOUNT, partition="aws", calls=calls, parts=["saml_providers"])
    assert posture.unavailable["saml_providers"] == "ListSAMLProviders: Throttling: Rate exceeded"
    assert calls.total == NO_SLEEP.max_attempts


def test_an_unreachable_region_is_unavailable_alone():
    """An opt-in region that is not enabled: the endpoint cannot be reached (a botocore error, not a ClientError)."""
    unreachable = boto3.client("accessanalyzer", region_name="me-central-1",
                               config=Config(retries={"total_max_attempts": 1}))

    def refuse(**_kwargs):
        raise EndpointConnectionError(endpoint_url="https://access-analyzer.me-central-1.amazonaws.com/analyzer")

    unreachable.meta.events.register("before-send.accessanalyzer.ListAnalyzers", refuse)
    east = analyzer_client("us-east-1")
    active = analyzer_summary("us-east-1", "ConsoleAnalyzer", "ACCOUNT", "ACTIVE")
    east.stubber.add_response("list_analyzers", {"analyzers": [active]}, {})
    calls = ApiCalls(NO_SLEEP)

    posture = collect_iam_posture(None, account_id=ACCOUNT, partition="aws", calls=calls, parts=["analyzers"],
                                  analyzers={"me-central-1": unreachable, "us-east-1": east})

    assert posture.analyzers == {"us-east-1": (Analyzer(active["arn"], "ConsoleAnalyzer", "ACCOUNT", "ACTIVE",
                                                        "us-east-1"),)}
    assert posture.unavailable["analyzers:me-central-1"] == (
        "ListAnalyzers: EndpointConnectionError: Could not connect to the endpoint URL: "
        "\"https://access-analyzer.me-central-1.amazonaws.com/analyzer\"")
    assert calls.by_operation["list_analyzers"] == NO_SLEEP.max_attempts + 1  # retried, then given up


def test_parts_not_asked_for_are_not_read_and_say_so():
    east = analyzer_client("us-east-1")  # no response queued: any call would fail the test
    posture = collect_iam_posture(None, account_id=ACCOUNT, partition="aws-us-gov", parts=(),
                                  analyzers={"us-east-1": east})
    assert posture.partition == "aws-us-gov"
    assert posture.unavailable == {part: "not collected: this part was not asked for" for part in
                                   ("authorization", "server_certificates", "saml_providers", "analyzers:us-east-1")}


def test_an_unknown_part_is_refused():
    with pytest.raises(ValueError, match=r"unknown IAM posture part\(s\) \['groups'\]"):
        collect_iam_posture(None, account_id=ACCOUNT, partition="aws", parts=["authorization", "groups"])


# -- saml_signing_certificates ---------------------------------------------------------------------------


def test_entra_id_metadata_takes_only_the_idp_signing_key():
    other = certificate(cn("accounts.accesscontrol.windows.net"), datetime(2030, 1, 1, tzinfo=UTC), 0x77)
    assert saml_signing_certificates(entra_metadata(b64(ENTRA_CERT), b64(other))) == ((ENTRA_SIGNING,), "")


def test_okta_metadata():
    assert saml_signing_certificates(okta_metadata(b64(OKTA_CERT))) == ((OKTA_SIGNING,), "")


def test_adfs_encryption_key_is_not_a_signing_key():
    assert saml_signing_certificates(adfs_metadata(b64(ADFS_SIGNING), b64(ADFS_ENCRYPTION))) == \
        ((ADFS_SIGNING_CERT,), "")


def test_key_descriptors_without_use_sign_and_wrapped_base64_is_read():
    """A rollover: two keys without ``use`` (the second also repeated), base64 wrapped at 76 characters."""
    assert saml_signing_certificates(
        shibboleth_metadata(b64(OKTA_CERT, wrap=76), b64(ENTRA_CERT, wrap=76), b64(OKTA_CERT))
    ) == ((OKTA_SIGNING, ENTRA_SIGNING), "")


def test_an_entities_descriptor_with_several_idps():
    document = ('<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">'
                + okta_metadata(b64(OKTA_CERT)).split("?>", 1)[1]
                + adfs_metadata(b64(ADFS_SIGNING), b64(ADFS_ENCRYPTION)).split("?>", 1)[1]
                + "</EntitiesDescriptor>")
    assert saml_signing_certificates(document) == ((OKTA_SIGNING, ADFS_SIGNING_CERT), "")


def test_bytes_are_read_as_utf8():
    assert saml_signing_certificates(okta_metadata(b64(OKTA_CERT)).encode()) == ((OKTA_SIGNING,), "")
    assert saml_signing_certificates(okta_metadata(b64(OKTA_CERT)).encode("utf-16")) == \
        ((), "metadata document not read: not UTF-8 ('utf-8' codec can't decode byte 0xff in position 0: "
             "invalid start byte)")


def test_a_certificate_that_does_not_load_is_skipped_and_said():
    document = shibboleth_metadata(NOT_A_CERTIFICATE, b64(ENTRA_CERT), "***not base64***", "")
    certificates, unreadable = saml_signing_certificates(document)
    assert certificates == (ENTRA_SIGNING,)
    assert unreadable == (
        f"signing certificate 1 could not be loaded: {LOAD_ERROR}; "
        "signing certificate 3 is not base64: Only base64 data is allowed; "
        "signing certificate 4 is empty")


def test_a_doctype_is_refused():
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">&lol2;</EntityDescriptor>')
    assert saml_signing_certificates(laughs) == \
        ((), "metadata document not read: it carries a DOCTYPE (entity declarations are refused)")
    external = okta_metadata(b64(OKTA_CERT)).replace(
        "?>", '?><!doctype md:EntityDescriptor SYSTEM "http://example.com/evil.dtd">', 1)
    assert saml_signing_certificates(external)[1].startswith("metadata document not read: it carries a DOCTYPE")


def test_size_limit_exactly_at_one_mebibyte():
    document = okta_metadata(b64(OKTA_CERT))
    padding = "<!--" + "x" * (MAX_METADATA_BYTES - len(document.encode()) - 7) + "-->"
    at_limit = document + padding
    assert len(at_limit.encode()) == MAX_METADATA_BYTES
    assert saml_signing_certificates(at_limit) == ((OKTA_SIGNING,), "")
    over = at_limit + " "
    assert saml_signing_certificates(over) == (
        (), f"metadata document not read: {MAX_METADATA_BYTES + 1} bytes, more than the {MAX_METADATA_BYTES} accepted")
    multibyte = document + "<!--" + "é" * ((MAX_METADATA_BYTES - len(document.encode())) // 2) + "-->"
    assert len(multibyte) <= MAX_METADATA_BYTES < len(multibyte.encode())  # bytes are counted, not characters
    assert saml_signing_certificates(multibyte)[1].startswith("metadata document not read: ")


@pytest.mark.parametrize(("document", "reason"), [
    (None, "no SAML metadata document"),
    ("", "no SAML metadata document"),
    ("<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\"><IDPSSODescriptor>",
     "metadata document is not XML: no element found: line 1, column 81"),
    ('<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><IDPSSODescriptor '
     'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>',
     "no signing certificate in the metadata (IDPSSODescriptor/KeyDescriptor/KeyInfo/X509Data/X509Certificate)"),
])
def test_metadata_without_certificates(document, reason):
    assert saml_signing_certificates(document) == ((), reason)


def test_only_an_encryption_key_is_no_signing_certificate():
    document = adfs_metadata(b64(ADFS_SIGNING), b64(ADFS_ENCRYPTION)).replace('use="signing"', 'use="encryption"')
    assert saml_signing_certificates(document) == (
        (), "no signing certificate in the metadata (IDPSSODescriptor/KeyDescriptor/KeyInfo/X509Data/X509Certificate)")


def test_metadata_in_another_namespace_is_not_taken():
    """SAML 1.1 / unqualified elements are not SAML 2.0 metadata: nothing is taken from them."""
    document = okta_metadata(b64(OKTA_CERT)).replace("urn:oasis:names:tc:SAML:2.0:metadata", "urn:example:other")
    assert saml_signing_certificates(document)[0] == ()
