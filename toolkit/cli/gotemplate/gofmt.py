"""Go's `fmt` (Sprint, Sprintln, Sprintf) and the `strconv` formatting it relies on.

Values are `toolkit.cli.gotemplate.values.Value`s; the result is a Go string payload
(`str`, bytes beyond UTF-8 as surrogate escapes). What is implemented follows fmt's
`print.go`/`format.go`:

- verbs `%v %+v %#v %T %t %d %b %o %O %x %X %c %q %U %e %E %f %F %g %G %s %%`, flags
  `+ - # 0 space`, width and precision (also `*` and `%[n]` argument indexes);
- composite values: `map[k:v ...]` with sorted keys, `[a b]`, `{f1 f2}`, `&{...}` for a
  pointer to a struct at the top level, `<nil>`, `String()`/`Error()` methods;
- errors written into the output as Go does: `%!d(string=a)`, `%!s(MISSING)`,
  `%!(EXTRA int=2)`, `%!(NOVERB)`, `%!(BADINDEX)`, `%!(BADWIDTH)`, `%!(BADPREC)`.

Not implemented: `%p` of maps/funcs (a made-up address is printed), `%x` of floats with a
precision, `%#v` of types with a `GoString` method.
"""

from __future__ import annotations

import math
import unicodedata

from toolkit.cli.gotemplate.values import (
    BOOL,
    COMPLEX128,
    FLOAT32,
    FLOAT64,
    INT,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    UINT,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    GoCallError,
    Kind,
    Value,
    from_bytes,
    slice_of,
    to_bytes,
)

__all__ = [
    "sprint",
    "sprintln",
    "sprintf",
    "quote",
    "quote_rune",
    "is_print",
    "format_float",
    "call_string_method",
]

_BASIC = {id(t) for t in (BOOL, INT, INT8, INT16, INT32, INT64, UINT, UINT8, UINT16, UINT32, UINT64,
                          FLOAT32, FLOAT64, COMPLEX128, STRING)}
_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"


def is_print(r: int) -> bool:
    """Go's `unicode.IsPrint` / `strconv.IsPrint` (letters, marks, numbers, punctuation,
    symbols and the ASCII space)."""
    if r == 0x20:
        return True
    if r < 0x20 or r == 0x7F or 0xD800 <= r <= 0xDFFF or r > 0x10FFFF:
        return False
    return unicodedata.category(chr(r))[0] in "LMNPS"


def _runes(s: str) -> list[tuple[int, bytes]]:
    """Decode a Go string as Go's `range` does: (rune, its bytes); an invalid byte is
    (0xFFFD, that byte)."""
    out: list[tuple[int, bytes]] = []
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # surrogate escape = one invalid byte
            out.append((0xFFFD, bytes([o - 0xDC00])))
        else:
            out.append((o, ch.encode("utf-8", "surrogatepass")))
    return out


def _escape_rune(r: int, quote_char: str, ascii_only: bool) -> str:
    if chr(r) == quote_char or r == 0x5C:
        return "\\" + chr(r)
    if ascii_only:
        if r < 0x80 and is_print(r):
            return chr(r)
    elif is_print(r):
        return chr(r)
    short = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}.get(r)
    if short is not None:
        return short
    if r < 0x20 or r == 0x7F:
        return f"\\x{r:02x}"
    if r > 0x10FFFF or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    if r < 0x10000:
        return f"\\u{r:04x}"
    return f"\\U{r:08x}"


def quote(s: str, *, ascii_only: bool = False) -> str:
    """`strconv.Quote` (or `QuoteToASCII`) of a Go string."""
    out = ['"']
    for r, raw in _runes(s):
        if r == 0xFFFD and raw != b"\xef\xbf\xbd":
            out.append(f"\\x{raw[0]:02x}")
        else:
            out.append(_escape_rune(r, '"', ascii_only))
    out.append('"')
    return "".join(out)


def quote_rune(r: int, *, ascii_only: bool = False) -> str:
    """`strconv.QuoteRune`."""
    if r > 0x10FFFF or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    return "'" + _escape_rune(r, "'", ascii_only) + "'"


def _can_backquote(s: str) -> bool:
    for r, raw in _runes(s):
        if r == 0xFFFD and raw != b"\xef\xbf\xbd":
            return False
        if r in (0xFEFF, 0x60):
            return False
        if (r < 0x20 and r != 9) or r == 0x7F:
            return False
    return True


# --- strconv.FormatFloat ------------------------------------------------------------------------


def _shortest_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |f| (> 0) and the decimal point position."""
    text = repr(abs(f))
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac = mantissa.partition(".")
    digits = int_part + frac
    dp = len(int_part) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _rounded_digits(f: float, significant: int) -> tuple[str, int]:
    """|f| rounded to `significant` digits (trailing zeros dropped), and the point position."""
    text = f"{abs(f):.{max(significant - 1, 0)}e}"
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace(".", "")
    return digits.rstrip("0") or "0", int(exp_text) + 1


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, e: str) -> str:
    out = "-" if neg else ""
    out += digits[0] if digits else "0"
    if prec > 0:
        out += "." + digits[1 : 1 + prec].ljust(prec, "0")
    exp = dp - 1 if digits else 0
    sign = "-" if exp < 0 else "+"
    exp = abs(exp)
    return out + e + sign + (f"{exp:02d}")


def _fmt_f(neg: bool, digits: str, dp: int, prec: int) -> str:
    out = "-" if neg else ""
    if dp > 0:
        out += digits[:dp].ljust(dp, "0")
    else:
        out += "0"
    if prec > 0:
        frac = []
        for i in range(prec):
            j = dp + i
            frac.append(digits[j] if 0 <= j < len(digits) else "0")
        out += "." + "".join(frac)
    return out


def format_float(f: float, verb: str, prec: int, bitsize: int = 64) -> str:
    """`strconv.FormatFloat(f, verb, prec, bitsize)` for verbs e E f g G x X (prec -1 = shortest)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if bitsize == 32:
        import struct

        f = struct.unpack("f", struct.pack("f", f))[0]
    neg = math.copysign(1.0, f) < 0
    if verb in "xX":
        return _format_hex_float(f, verb)
    if verb in "eE":
        if prec < 0:
            if f == 0:
                return _fmt_e(neg, "", 0, 0, verb)
            digits, dp = _shortest_digits(f)
            return _fmt_e(neg, digits, dp, len(digits) - 1, verb)
        text = f"{abs(f):.{prec}e}"
        return ("-" if neg else "") + (text.upper() if verb == "E" else text)
    if verb == "f":
        if prec < 0:
            if f == 0:
                return "-0" if neg else "0"
            digits, dp = _shortest_digits(f)
            return _fmt_f(neg, digits, dp, max(len(digits) - dp, 0))
        return ("-" if neg else "") + f"{abs(f):.{prec}f}"
    # 'g' / 'G', as strconv's %e-or-%f choice (zero has no digits)
    e = "e" if verb == "g" else "E"
    shortest = prec < 0
    if f == 0:
        digits, dp = "", 0
    elif shortest:
        digits, dp = _shortest_digits(f)
    else:
        digits, dp = _rounded_digits(f, max(prec, 1))
    nd = len(digits)
    if shortest:
        prec = nd
        eprec = 6
    else:
        prec = max(prec, 1)
        eprec = prec
        if eprec > nd >= dp:
            eprec = nd
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        return _fmt_e(neg, digits, dp, max(min(prec, nd) - 1, 0), e)
    if prec > dp:
        prec = nd
    return _fmt_f(neg, digits, dp, max(prec - dp, 0))


def _format_hex_float(f: float, verb: str) -> str:
    if f == 0:
        text = "0x0p+00"
        return ("-" if math.copysign(1.0, f) < 0 else "") + (text.upper().replace("0X", "0X") if verb == "X" else text)
    text = float.hex(abs(f))  # 0x1.8000000000000p+0
    mant, _, exp = text.partition("p")
    head, _, frac = mant.partition(".")
    frac = frac.rstrip("0")
    value = int(exp)
    out = head + ("." + frac if frac else "") + "p" + ("-" if value < 0 else "+") + f"{abs(value):02d}"
    if verb == "X":
        out = out.upper()
    return ("-" if f < 0 else "") + out


# --- the printer ------------------------------------------------------------------------------


def call_string_method(value: Value, name: str) -> str:
    """Call a `String()`/`Error()` method of `value` (through a pointer too); `GoCallError`
    for a nil pointer receiver."""
    typ = value.type
    assert typ is not None
    method = typ.method(name, via_pointer=typ.kind is Kind.POINTER)
    assert method is not None
    recv = value
    if typ.kind is Kind.POINTER and not method.pointer_receiver:
        if value.v is None:
            raise GoCallError("runtime error: invalid memory address or nil pointer dereference")
        recv = value.v
    result = method.impl(recv, [])
    return str(result.v)


class _Printer:
    def __init__(self) -> None:
        self.buf: list[str] = []
        self.clear_flags()
        self.arg: Value | None = None
        self.value: Value | None = None
        self.erroring = False
        self.panicking = False
        self.reordered = False
        self.good_arg_num = True

    def clear_flags(self) -> None:
        self.wid = 0
        self.prec = 0
        self.wid_present = False
        self.prec_present = False
        self.minus = False
        self.plus = False
        self.sharp = False
        self.space = False
        self.zero = False
        self.plus_v = False
        self.sharp_v = False

    def flags(self) -> tuple[object, ...]:
        return (self.wid, self.prec, self.wid_present, self.prec_present, self.minus, self.plus, self.sharp,
                self.space, self.zero, self.plus_v, self.sharp_v)

    def set_flags(self, saved: tuple[object, ...]) -> None:
        (self.wid, self.prec, self.wid_present, self.prec_present, self.minus, self.plus, self.sharp,
         self.space, self.zero, self.plus_v, self.sharp_v) = saved  # type: ignore[assignment]

    def write(self, s: str) -> None:
        self.buf.append(s)

    # -- padding (format.go) --

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if not self.minus:
            self.write_padding(width)
            self.buf.append(s)
        else:
            self.buf.append(s)
            self.write_padding(width)

    def fmt_boolean(self, v: bool) -> None:
        self.pad("true" if v else "false")

    def fmt_unicode(self, u: int) -> None:
        prec = 4
        if self.prec_present and self.prec > 4:
            prec = self.prec
        hexs = f"{u:X}".rjust(prec, "0")
        s = "U+" + hexs
        if self.sharp and u <= 0x10FFFF and is_print(u):
            s += " '" + chr(u) + "'"
        old = self.zero
        self.zero = False
        self.pad(s)
        self.zero = old

    def fmt_integer(self, u: int, base: int, signed: bool, verb: str, digits: str) -> None:
        negative = signed and u < 0
        if negative:
            u = -u
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                old = self.zero
                self.zero = False
                self.write_padding(self.wid)
                self.zero = old
                return
        elif self.zero and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            body = str(u)
        elif base == 16:
            body = "".join(digits[int(c, 16)] for c in f"{u:x}")
        elif base == 8:
            body = f"{u:o}"
        else:
            body = f"{u:b}"
        if len(body) < prec:
            body = "0" * (prec - len(body)) + body
        if self.sharp:
            if base == 2:
                body = "0b" + body
            elif base == 8:
                if body[0] != "0":
                    body = "0" + body
            elif base == 16:
                body = "0" + digits[16] + body
        if verb == "O":
            body = "0o" + body
        if negative:
            body = "-" + body
        elif self.plus:
            body = "+" + body
        elif self.space:
            body = " " + body
        old = self.zero
        self.zero = False
        self.pad(body)
        self.zero = old

    def truncate_string(self, s: str) -> str:
        if self.prec_present:
            return s[: self.prec]
        return s

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate_string(s))

    def fmt_sbx(self, data: bytes, digits: str) -> None:
        length = len(data)
        if self.prec_present and self.prec < length:
            length = self.prec
        width = 2 * length
        if width > 0:
            if self.space:
                if self.sharp:
                    width *= 2
                width += length - 1
            elif self.sharp:
                width += 2
        else:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        out: list[str] = []
        if self.sharp:
            out.append("0" + digits[16])
        for i in range(length):
            if self.space and i > 0:
                out.append(" ")
                if self.sharp:
                    out.append("0" + digits[16])
            c = data[i]
            out.append(digits[c >> 4] + digits[c & 0xF])
        self.buf.append("".join(out))
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self.truncate_string(s)
        if self.sharp and _can_backquote(s):
            self.pad("`" + s + "`")
            return
        self.pad(quote(s, ascii_only=self.plus))

    def fmt_c(self, c: int) -> None:
        r = c if 0 <= c <= 0x10FFFF and not 0xD800 <= c <= 0xDFFF else 0xFFFD
        self.pad(chr(r))

    def fmt_qc(self, c: int) -> None:
        r = c if 0 <= c <= 0x10FFFF else 0xFFFD
        self.pad(quote_rune(r, ascii_only=self.plus))

    def fmt_float_raw(self, v: float, size: int, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec, size)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            old = self.zero
            self.zero = False
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad(num)
            self.zero = old
            return
        if self.sharp and verb != "b":
            digits = 0
            if verb in "vgGx":
                digits = prec if prec != -1 else 6
            tail = ""
            has_point = False
            saw_nonzero = False
            i = 1
            body = num
            while i < len(body):
                ch = body[i]
                if ch == ".":
                    has_point = True
                elif ch in "pP" or (ch in "eE" and verb not in "xX"):
                    tail = body[i:]
                    body = body[:i]
                    break
                else:
                    if ch != "0":
                        saw_nonzero = True
                    if saw_nonzero:
                        digits -= 1
                i += 1
            if not has_point:
                if len(body) == 2 and body[1] == "0":
                    digits -= 1
                body += "."
            while digits > 0:
                body += "0"
                digits -= 1
            num = body + tail
        if self.plus or num[0] != "+":
            if self.zero and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(self.wid - len(num))
                self.buf.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    # -- print.go --

    def bad_verb(self, verb: str) -> None:
        self.erroring = True
        self.write("%!" + verb + "(")
        if self.arg is not None and self.arg.valid:
            assert self.arg.type is not None
            self.write(self.arg.type.name + "=")
            self.print_arg(self.arg, "v")
        elif self.value is not None and self.value.valid:
            assert self.value.type is not None
            self.write(self.value.type.name + "=")
            self.print_value(self.value, "v", 0)
        else:
            self.write("<nil>")
        self.write(")")
        self.erroring = False

    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb in "tv":
            self.fmt_boolean(v)
        else:
            self.bad_verb(verb)

    def fmt_0x64(self, v: int, leading0x: bool) -> None:
        sharp = self.sharp
        self.sharp = leading0x
        self.fmt_integer(v, 16, False, "v", _LDIGITS)
        self.sharp = sharp

    def fmt_int(self, v: int, signed: bool, verb: str) -> None:
        if verb == "v":
            if self.sharp_v and not signed:
                self.fmt_0x64(v, True)
            else:
                self.fmt_integer(v, 10, signed, verb, _LDIGITS)
        elif verb == "d":
            self.fmt_integer(v, 10, signed, verb, _LDIGITS)
        elif verb == "b":
            self.fmt_integer(v, 2, signed, verb, _LDIGITS)
        elif verb in "oO":
            self.fmt_integer(v, 8, signed, verb, _LDIGITS)
        elif verb == "x":
            self.fmt_integer(v, 16, signed, verb, _LDIGITS)
        elif verb == "X":
            self.fmt_integer(v, 16, signed, verb, _UDIGITS)
        elif verb == "c":
            self.fmt_c(v)
        elif verb == "q":
            self.fmt_qc(v)
        elif verb == "U":
            self.fmt_unicode(v)
        else:
            self.bad_verb(verb)

    def fmt_float(self, v: float, size: int, verb: str) -> None:
        if verb == "v":
            self.fmt_float_raw(v, size, "g", -1)
        elif verb in "bgGxX":
            if verb == "b":
                self.bad_verb(verb)
                return
            self.fmt_float_raw(v, size, verb, -1)
        elif verb in "feE":
            self.fmt_float_raw(v, size, verb, 6)
        elif verb == "F":
            self.fmt_float_raw(v, size, "f", 6)
        else:
            self.bad_verb(verb)

    def fmt_complex(self, v: complex, size: int, verb: str) -> None:
        if verb in "vbgGxXfFeE":
            old_plus = self.plus
            self.write("(")
            self.fmt_float(v.real, size // 2, verb)
            self.plus = True
            self.fmt_float(v.imag, size // 2, verb)
            self.write("i)")
            self.plus = old_plus
        else:
            self.bad_verb(verb)

    def fmt_string(self, v: str, verb: str) -> None:
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(v)
            else:
                self.fmt_s(v)
        elif verb == "s":
            self.fmt_s(v)
        elif verb == "x":
            self.fmt_sbx(to_bytes(v), _LDIGITS)
        elif verb == "X":
            self.fmt_sbx(to_bytes(v), _UDIGITS)
        elif verb == "q":
            self.fmt_q(v)
        else:
            self.bad_verb(verb)

    def fmt_bytes(self, data: bytes, verb: str, type_string: str, is_nil: bool) -> None:
        if verb in "vd":
            if self.sharp_v:
                self.write(type_string)
                if is_nil:
                    self.write("(nil)")
                    return
                self.write("{")
                for i, c in enumerate(data):
                    if i:
                        self.write(", ")
                    self.fmt_0x64(c, True)
                self.write("}")
            else:
                self.write("[")
                for i, c in enumerate(data):
                    if i:
                        self.write(" ")
                    self.fmt_integer(c, 10, False, verb, _LDIGITS)
                self.write("]")
        elif verb == "s":
            self.fmt_s(from_bytes(data))
        elif verb == "x":
            self.fmt_sbx(data, _LDIGITS)
        elif verb == "X":
            self.fmt_sbx(data, _UDIGITS)
        elif verb == "q":
            self.fmt_q(from_bytes(data))
        else:
            self.bad_verb(verb)

    def fmt_pointer(self, value: Value, verb: str) -> None:
        if value.kind not in (Kind.CHAN, Kind.FUNC, Kind.MAP, Kind.POINTER, Kind.SLICE):
            self.bad_verb(verb)
            return
        u = 0 if value.is_nil() else 0xC000010000 + (id(value.v) & 0xFFFF) * 8
        if verb == "v":
            if self.sharp_v:
                assert value.type is not None
                self.write("(" + value.type.name + ")(")
                if u == 0:
                    self.write("nil")
                else:
                    self.fmt_0x64(u, True)
                self.write(")")
            elif u == 0:
                self.pad("<nil>")
            else:
                self.fmt_0x64(u, not self.sharp)
        elif verb == "p":
            self.fmt_0x64(u, not self.sharp)
        elif verb in "bodxX":
            self.fmt_int(u, False, verb)
        else:
            self.bad_verb(verb)

    def handle_methods(self, verb: str) -> bool:
        if self.erroring or self.arg is None or self.sharp_v or verb not in "vsxXq":
            return False
        typ = self.arg.type
        if typ is None:
            return False
        name = "Error" if typ.implements_error() else "String" if typ.implements_stringer() else None
        if name is None:
            return False
        try:
            text = call_string_method(self.arg, name)
        except GoCallError as exc:
            if self.arg.kind is Kind.POINTER and self.arg.v is None:
                self.write("<nil>")
                return True
            saved = self.flags()
            self.clear_flags()
            self.write(f"%!{verb}(PANIC={name} method: {exc})")
            self.set_flags(saved)
            return True
        self.fmt_string(text, verb)
        return True

    def print_arg(self, arg: Value, verb: str) -> None:
        if arg.kind is Kind.INTERFACE:
            arg = arg.elem()
        self.arg = arg
        self.value = None
        if not arg.valid:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb)
            return
        typ = arg.type
        assert typ is not None
        if verb == "T":
            self.fmt_s(typ.name)
            return
        if verb == "p":
            self.fmt_pointer(arg, "p")
            return
        if id(typ) in _BASIC or typ is slice_of(UINT8):
            self._print_basic(arg, verb, 0)
            return
        if not self.handle_methods(verb):
            self.print_value(arg, verb, 0)

    def _print_basic(self, value: Value, verb: str, depth: int) -> None:
        k = value.kind
        if k is Kind.BOOL:
            self.fmt_bool(bool(value.v), verb)
        elif k.is_int:
            self.fmt_int(int(value.v), True, verb)
        elif k.is_uint:
            self.fmt_int(int(value.v), False, verb)
        elif k is Kind.FLOAT32:
            self.fmt_float(float(value.v), 32, verb)
        elif k is Kind.FLOAT64:
            self.fmt_float(float(value.v), 64, verb)
        elif k.is_complex:
            self.fmt_complex(complex(value.v), 128 if k is Kind.COMPLEX128 else 64, verb)
        elif k is Kind.STRING:
            self.fmt_string(str(value.v), verb)
        else:  # []byte
            assert value.type is not None
            data = bytes(int(x.v) for x in (value.v or []))
            self.fmt_bytes(data, verb, value.type.name, value.v is None)

    def print_value(self, value: Value, verb: str, depth: int) -> None:
        if depth > 0 and value.valid:
            self.arg = value
            if self.handle_methods(verb):
                return
        self.arg = None
        self.value = value
        k = value.kind
        typ = value.type
        if k is Kind.INVALID:
            if depth == 0:
                self.write("<invalid reflect.Value>")
            elif verb == "v":
                self.write("<nil>")
            else:
                self.bad_verb(verb)
            return
        assert typ is not None
        if k is Kind.BOOL or k.is_int or k.is_uint or k.is_float or k.is_complex or k is Kind.STRING:
            self._print_basic(value, verb, depth)
        elif k is Kind.MAP:
            if self.sharp_v:
                self.write(typ.name)
                if value.v is None:
                    self.write("(nil)")
                    return
                self.write("{")
            else:
                self.write("map[")
            for i, (key, item) in enumerate(value.map_items()):
                if i:
                    self.write(", " if self.sharp_v else " ")
                self.print_value(key, verb, depth + 1)
                self.write(":")
                self.print_value(item, verb, depth + 1)
            self.write("}" if self.sharp_v else "]")
        elif k is Kind.STRUCT:
            if self.sharp_v:
                self.write(typ.name)
            self.write("{")
            fields = value.v if isinstance(value.v, tuple) else ()
            for i, item in enumerate(fields):
                if i:
                    self.write(", " if self.sharp_v else " ")
                if self.plus_v or self.sharp_v:
                    self.write(typ.fields[i].name + ":")
                if item.kind is Kind.INTERFACE and item.v is not None:
                    item = item.v
                self.print_value(item, verb, depth + 1)
            self.write("}")
        elif k is Kind.INTERFACE:
            inner = value.elem()
            if not inner.valid:
                if self.sharp_v:
                    self.write(typ.name + "(nil)")
                else:
                    self.write("<nil>")
            else:
                self.print_value(inner, verb, depth + 1)
        elif k in (Kind.ARRAY, Kind.SLICE):
            if verb in "sqxX" and typ.elem is not None and typ.elem.kind is Kind.UINT8:
                data = bytes(int(x.v) for x in (value.v or []))
                self.fmt_bytes(data, verb, typ.name, value.v is None)
                return
            items = value.v or []
            if self.sharp_v:
                self.write(typ.name)
                if k is Kind.SLICE and value.v is None:
                    self.write("(nil)")
                    return
                self.write("{")
                for i, item in enumerate(items):
                    if i:
                        self.write(", ")
                    self.print_value(item, verb, depth + 1)
                self.write("}")
            else:
                self.write("[")
                for i, item in enumerate(items):
                    if i:
                        self.write(" ")
                    self.print_value(item, verb, depth + 1)
                self.write("]")
        elif k is Kind.POINTER:
            if depth == 0 and value.v is not None and value.v.kind in (Kind.ARRAY, Kind.SLICE, Kind.STRUCT, Kind.MAP):
                self.write("&")
                self.print_value(value.v, verb, depth + 1)
                return
            self.fmt_pointer(value, verb)
        elif k in (Kind.CHAN, Kind.FUNC):
            self.fmt_pointer(value, verb)
        else:
            self.write("?" + typ.name + "?")

    # -- Printf --

    def int_from_arg(self, args: list[Value], arg_num: int) -> tuple[int, bool, int]:
        num, is_int, new_arg_num = 0, False, arg_num
        if arg_num < len(args):
            a = args[arg_num]
            if a.kind is Kind.INTERFACE:
                a = a.elem()
            if a.kind.is_int or a.kind.is_uint:
                num = int(a.v)
                is_int = -(2**63) <= num < 2**63
            new_arg_num = arg_num + 1
            if num > 1_000_000 or num < -1_000_000:
                num, is_int = 0, False
        return num, is_int, new_arg_num

    def arg_number(self, arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool]:
        if len(fmt) <= i or fmt[i] != "[":
            return arg_num, i, False
        self.reordered = True
        index, wid, ok = _parse_arg_number(fmt[i:])
        if ok and 0 <= index < num_args:
            return index, i + wid, True
        self.good_arg_num = False
        return arg_num, i + wid, ok

    def do_printf(self, fmt: str, args: list[Value]) -> None:
        end = len(fmt)
        arg_num = 0
        after_index = False
        self.reordered = False
        i = 0
        while i < end:
            self.good_arg_num = True
            last = i
            while i < end and fmt[i] != "%":
                i += 1
            if i > last:
                self.write(fmt[last:i])
            if i >= end:
                break
            i += 1
            self.clear_flags()
            simple_done = False
            while i < end:
                c = fmt[i]
                if c == "#":
                    self.sharp = True
                elif c == "0":
                    self.zero = not self.minus
                elif c == "+":
                    self.plus = True
                elif c == "-":
                    self.minus = True
                    self.zero = False
                elif c == " ":
                    self.space = True
                else:
                    if "a" <= c <= "z" and arg_num < len(args):
                        if c == "v":
                            self.sharp_v = self.sharp
                            self.sharp = False
                            self.plus_v = self.plus
                            self.plus = False
                        self.print_arg(args[arg_num], c)
                        arg_num += 1
                        i += 1
                        simple_done = True
                    break
                i += 1
            if simple_done:
                continue
            arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
            if i < end and fmt[i] == "*":
                i += 1
                self.wid, self.wid_present, arg_num = self.int_from_arg(args, arg_num)
                if not self.wid_present:
                    self.write("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid = -self.wid
                    self.minus = True
                    self.zero = False
                after_index = False
            else:
                self.wid, self.wid_present, i = _parsenum(fmt, i, end)
                if after_index and self.wid_present:
                    self.good_arg_num = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, self.prec_present, arg_num = self.int_from_arg(args, arg_num)
                    if self.prec < 0:
                        self.prec = 0
                        self.prec_present = False
                    if not self.prec_present:
                        self.write("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_present, i = _parsenum(fmt, i, end)
                    if not self.prec_present:
                        self.prec = 0
                        self.prec_present = True
            if not after_index:
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
            if i >= end:
                self.write("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                self.write("%")
            elif not self.good_arg_num:
                self.write("%!" + verb + "(BADINDEX)")
            elif arg_num >= len(args):
                self.write("%!" + verb + "(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v = self.sharp
                    self.sharp = False
                    self.plus_v = self.plus
                    self.plus = False
                self.print_arg(args[arg_num], verb)
                arg_num += 1
        if not self.reordered and arg_num < len(args):
            self.clear_flags()
            self.write("%!(EXTRA ")
            for j, a in enumerate(args[arg_num:]):
                if j:
                    self.write(", ")
                inner = a.elem() if a.kind is Kind.INTERFACE else a
                if not inner.valid:
                    self.write("<nil>")
                else:
                    assert inner.type is not None
                    self.write(inner.type.name + "=")
                    self.print_arg(inner, "v")
            self.write(")")


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000 or num < -1_000_000:
            return 0, False, end
        num = num * 10 + int(s[i])
        isnum = True
        i += 1
    return num, isnum, i


def _parse_arg_number(fmt: str) -> tuple[int, int, bool]:
    if len(fmt) < 3:
        return 0, 1, False
    for i in range(1, len(fmt)):
        if fmt[i] == "]":
            width, ok, newi = _parsenum(fmt, 1, i)
            if not ok or newi != i:
                return 0, i + 1, False
            return width - 1, i + 1, True
    return 0, 1, False


def _is_string_kind(v: Value) -> bool:
    inner = v.elem() if v.kind is Kind.INTERFACE else v
    return inner.kind is Kind.STRING


def sprint(args: list[Value]) -> str:
    """`fmt.Sprint`: a space between operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for n, arg in enumerate(args):
        is_string = _is_string_kind(arg)
        if n > 0 and not is_string and not prev_string:
            p.write(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return "".join(p.buf)


def sprintln(args: list[Value]) -> str:
    """`fmt.Sprintln`: operands separated by spaces, then a newline."""
    p = _Printer()
    for n, arg in enumerate(args):
        if n > 0:
            p.write(" ")
        p.print_arg(arg, "v")
    p.write("\n")
    return "".join(p.buf)


def sprintf(fmt: str, args: list[Value]) -> str:
    """`fmt.Sprintf`."""
    p = _Printer()
    p.do_printf(fmt, args)
    return "".join(p.buf)
