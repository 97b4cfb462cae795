"""Shipping labels: a hand-written PDF 1.4 page or ZPL text, with a Code 128 barcode.

The PDF is one 4x6 in page (288x432 pt) in Helvetica (a standard font: nothing embedded),
uncompressed so the tracking number can be read in the bytes: carrier and service, both
addresses, the tracking number in a Code 128 (set B) barcode drawn as filled rectangles, and
the reference. ZPL (``label_type: "ZPL"``) says the same with ``^BC`` (the printer draws
the barcode). Labels are rebuilt from the shipment when asked for, never stored, and every
text is cut to 50 ASCII characters, so a label is at most a few KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: Code 128 bar/space widths (modules) for symbol values 0-106; 106 is STOP with its final bar.
CODE128: Final = (  # noqa: SIM905 (a table reads better as one block)
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 "
    "112232 122132 122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 "
    "311222 321122 321221 312212 322112 322211 212123 212321 232121 111323 131123 131321 "
    "112313 132113 132311 211313 231113 231311 112133 112331 132131 113123 113321 133121 "
    "313121 211331 231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 112412 122114 "
    "122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212 "
    "124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 "
    "114311 411113 411311 113141 114131 311141 411131 211412 211214 211232 2331112"
).split()
START_B: Final = 104
STOP: Final = 106
_MAX_TEXT: Final = 50
_PAGE_W: Final = 288
_PAGE_H: Final = 432


@dataclass(frozen=True, slots=True)
class LabelData:
    """What a label shows."""

    carrier: str
    service: str
    tracking_number: str
    shipper: dict[str, Any]
    recipient: dict[str, Any]
    reference: str
    weight_kg: float


def code128_values(text: str) -> list[int]:
    """Symbol values of ``text`` in code set B: start, data, checksum, stop.

    Raises:
        ValueError: a character outside printable ASCII (32-126).
    """
    data = []
    for char in text:
        if not 32 <= ord(char) <= 126:
            raise ValueError(f"Code 128 B cannot encode {char!r}")
        data.append(ord(char) - 32)
    checksum = (START_B + sum(i * v for i, v in enumerate(data, start=1))) % 103
    return [START_B, *data, checksum, STOP]


def code128_modules(text: str) -> list[int]:
    """Alternating bar/space widths (modules) of the whole symbol, starting with a bar."""
    return [int(w) for value in code128_values(text) for w in CODE128[value]]


def _ascii(value: Any) -> str:
    text = "" if value is None else str(value)
    return "".join(c if 32 <= ord(c) <= 126 else "?" for c in text)[:_MAX_TEXT]


def _address_lines(address: dict[str, Any]) -> list[str]:
    name = address.get("person_name") or address.get("company_name") or ""
    parts = (address.get("city"), address.get("state_code"), address.get("postal_code"))
    city = " ".join(str(p) for p in parts if p)
    lines = [name, address.get("address_line1"), address.get("address_line2"), city,
             address.get("country_code")]  # fmt: skip
    return [_ascii(line) for line in lines if line]


# ------------------------------------------------------------------ PDF


def _pdf_text(text: str) -> str:
    return _ascii(text).replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_content(label: LabelData) -> bytes:
    ops: list[str] = []

    def text(x: float, y: float, size: int, value: str) -> None:
        ops.append(f"BT /F1 {size} Tf {x:.2f} {y:.2f} Td ({_pdf_text(value)}) Tj ET")

    text(18, 404, 16, label.carrier)
    text(18, 388, 10, label.service)
    ops.append("0.5 w 18 380 m 270 380 l S")
    text(18, 366, 8, "FROM:")
    for i, line in enumerate(_address_lines(label.shipper)):
        text(52, 366 - 10 * i, 8, line)
    text(18, 300, 11, "SHIP TO:")
    for i, line in enumerate(_address_lines(label.recipient)):
        text(30, 284 - 14 * i, 12, line)
    ops.append("18 206 m 270 206 l S")
    modules = code128_modules(label.tracking_number)
    module_w = min(1.5, 252 / (sum(modules) + 20))  # 10-module quiet zone each side
    x = 18 + 10 * module_w
    for index, width in enumerate(modules):
        if index % 2 == 0:  # bars at even positions, spaces between
            ops.append(f"{x:.3f} 120 {width * module_w:.3f} 72 re")
        x += width * module_w
    ops.append("f")
    text(18, 100, 12, f"TRACKING #: {label.tracking_number}")
    text(18, 84, 8, f"WEIGHT: {label.weight_kg:.2f} KG")
    if label.reference:
        text(18, 72, 8, f"REF: {label.reference}")
    return "\n".join(ops).encode("ascii")


def render_pdf(label: LabelData) -> bytes:
    """A one-page PDF 1.4 label (a few KB), cross-reference table and all."""
    content = _page_content(label)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_W} {_PAGE_H}] "
            "/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        ).encode(),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ------------------------------------------------------------------ ZPL


def _zpl_text(value: str) -> str:
    return _ascii(value).replace("^", " ").replace("~", " ")


def render_zpl(label: LabelData) -> bytes:
    """A 4x6 in ZPL II label at 203 dpi (starts ``^XA``, ends ``^XZ``)."""
    lines = ["^XA", "^CF0,50", f"^FO30,40^FD{_zpl_text(label.carrier)}^FS", "^CF0,30",
             f"^FO30,100^FD{_zpl_text(label.service)}^FS", "^FO30,140^GB750,3,3^FS",
             "^CF0,24", "^FO30,160^FDFROM:^FS"]  # fmt: skip
    for i, line in enumerate(_address_lines(label.shipper)):
        lines.append(f"^FO110,{160 + 28 * i}^FD{_zpl_text(line)}^FS")
    lines += ["^CF0,30", "^FO30,340^FDSHIP TO:^FS", "^CF0,40"]
    for i, line in enumerate(_address_lines(label.recipient)):
        lines.append(f"^FO60,{390 + 45 * i}^FD{_zpl_text(line)}^FS")
    lines += [
        "^FO30,640^GB750,3,3^FS",
        f"^FO60,680^BY3^BCN,220,Y,N,N^FD{_zpl_text(label.tracking_number)}^FS",
        "^CF0,24",
        f"^FO30,980^FDWEIGHT: {label.weight_kg:.2f} KG^FS",
    ]
    if label.reference:
        lines.append(f"^FO30,1020^FDREF: {_zpl_text(label.reference)}^FS")
    lines.append("^XZ")
    return ("\n".join(lines) + "\n").encode("ascii")


def render_label(label: LabelData, label_type: str) -> bytes:
    """The label in ``label_type`` (``PDF`` or ``ZPL``)."""
    return render_zpl(label) if label_type == "ZPL" else render_pdf(label)
