"""SOAP for the REST trigger: unwrap a request envelope, wrap a result, answer faults.

SOAP 1.1 and 1.2 are told apart by the envelope's namespace and answered in the same version.
The payload a flow sees is the first element of the Body, converted as ``xml2json`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from weir.nodes.conversions import from_xml, to_xml

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


class SoapError(ValueError):
    pass


@dataclass(frozen=True)
class SoapVersion:
    namespace: str

    @property
    def content_type(self) -> str:
        if self.namespace == SOAP12:
            return "application/soap+xml; charset=utf-8"
        return "text/xml; charset=utf-8"


def unwrap(text: str) -> tuple[SoapVersion, Any]:
    """The version and the Body's first element as JSON, e.g. ``{"GetOrder": {"id": "7"}}``."""
    from defusedxml.ElementTree import fromstring

    root = fromstring(text, forbid_dtd=True)  # the caller already parsed it once safely
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if namespace not in (SOAP11, SOAP12) or not root.tag.endswith("}Envelope"):
        raise SoapError("the body is not a SOAP 1.1 or 1.2 Envelope")
    body = root.find(f"{{{namespace}}}Body")
    if body is None:
        raise SoapError("the SOAP Envelope has no Body")
    children = list(body)
    if not children:
        raise SoapError("the SOAP Body is empty")
    from xml.etree.ElementTree import tostring

    return SoapVersion(namespace), from_xml(tostring(children[0], encoding="unicode"))


def envelope(version: SoapVersion, result: Any, default_element: str = "Response") -> str:
    """Wrap a result: an object with one key becomes that element, anything else is wrapped
    in ``default_element``."""
    if not (isinstance(result, dict) and len(result) == 1):
        result = {default_element: result}
    return _wrap(version, to_xml(result, None))


def fault(version: SoapVersion | None, message: str, *, client: bool) -> str:
    version = version or SoapVersion(SOAP11)
    text = escape(message)
    if version.namespace == SOAP12:
        code = "soap:Sender" if client else "soap:Receiver"
        inner = (
            f"<soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="en">{text}</soap:Text></soap:Reason></soap:Fault>'
        )
    else:
        code = "soap:Client" if client else "soap:Server"
        inner = (
            f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{text}</faultstring>"
            "</soap:Fault>"
        )
    return _wrap(version, inner)


def _wrap(version: SoapVersion, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{version.namespace}"><soap:Body>{body}</soap:Body>'
        "</soap:Envelope>"
    )
