"""Go's `text/tabwriter` (left-aligned, no HTML filter), for `--format 'table ...'`.

Cells are tab-terminated; a column block is a run of consecutive lines that have a cell in
that column; each column is as wide as its widest cell plus `padding`, at least `minwidth`.
The text after a line's last tab is not part of any column. `0xff` bytes bracket escaped
text (`strip_escape` removes them). Same algorithm as Go's `Writer.format`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["tabwrite"]

_ESCAPE = 0xFF


@dataclass
class _Cell:
    size: int = 0  # bytes
    width: int = 0  # runes
    htab: bool = False


def _rune_count(b: bytes) -> int:
    """utf8.RuneCount: every invalid byte counts as one rune."""
    count = 0
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
        else:
            length = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 1
            chunk = b[i : i + length]
            try:
                chunk.decode("utf-8")
                i += length
            except UnicodeDecodeError:
                i += 1
        count += 1
    return count


class _Writer:
    def __init__(self, minwidth: int, tabwidth: int, padding: int, padchar: bytes, strip_escape: bool) -> None:
        self.minwidth = minwidth
        self.tabwidth = tabwidth
        self.padding = padding
        self.padchar = padchar
        self.strip_escape = strip_escape
        self.out = bytearray()
        self.reset()

    def reset(self) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.cell = _Cell()
        self.end_char = 0
        self.lines: list[list[_Cell]] = [[]]
        self.widths: list[int] = []

    def write_padding(self, textw: int, cellw: int) -> None:
        if self.padchar == b"\t":
            if self.tabwidth == 0:
                return
            cellw = (cellw + self.tabwidth - 1) // self.tabwidth * self.tabwidth
            n = cellw - textw
            self.out += b"\t" * ((n + self.tabwidth - 1) // self.tabwidth)
            return
        self.out += self.padchar * (cellw - textw)

    def write_lines(self, pos: int, line0: int, line1: int) -> int:
        for i in range(line0, line1):
            line = self.lines[i]
            for j, c in enumerate(line):
                if c.size == 0:
                    if j < len(self.widths):
                        self.write_padding(c.width, self.widths[j])
                else:
                    self.out += self.buf[pos : pos + c.size]
                    pos += c.size
                    if j < len(self.widths):
                        self.write_padding(c.width, self.widths[j])
            if i + 1 == len(self.lines):
                self.out += self.buf[pos : pos + self.cell.size]
                pos += self.cell.size
            else:
                self.out += b"\n"
        return pos

    def format(self, pos: int, line0: int, line1: int) -> int:
        column = len(self.widths)
        this = line0
        while this < line1:
            line = self.lines[this]
            if column >= len(line) - 1:
                this += 1
                continue
            pos = self.write_lines(pos, line0, this)
            line0 = this
            width = self.minwidth
            while this < line1:
                line = self.lines[this]
                if column >= len(line) - 1:
                    break
                c = line[column]
                width = max(width, c.width + self.padding)
                this += 1
            self.widths.append(width)
            pos = self.format(pos, line0, this)
            self.widths.pop()
            line0 = this
        return self.write_lines(pos, line0, line1)

    def update_width(self) -> None:
        self.cell.width += _rune_count(bytes(self.buf[self.pos :]))
        self.pos = len(self.buf)

    def append(self, text: bytes) -> None:
        self.buf += text
        self.cell.size += len(text)

    def terminate_cell(self, htab: bool) -> int:
        self.cell.htab = htab
        line = self.lines[-1]
        line.append(self.cell)
        self.cell = _Cell()
        return len(line)

    def end_escape(self) -> None:
        self.update_width()
        if not self.strip_escape:
            self.cell.width -= 2
        self.pos = len(self.buf)
        self.end_char = 0

    def flush(self) -> None:
        if self.cell.size > 0:
            if self.end_char != 0:
                self.end_escape()
            self.terminate_cell(False)
        self.format(0, 0, len(self.lines))
        self.reset()

    def write(self, data: bytes) -> None:
        n = 0
        for i, ch in enumerate(data):
            if self.end_char == 0:
                if ch in (0x09, 0x0B, 0x0A, 0x0C):
                    self.append(data[n:i])
                    self.update_width()
                    n = i + 1
                    ncells = self.terminate_cell(ch == 0x09)
                    if ch in (0x0A, 0x0C):
                        self.lines.append([])
                        if ch == 0x0C or ncells == 1:
                            self.flush()
                elif ch == _ESCAPE:
                    self.append(data[n:i])
                    self.update_width()
                    n = i
                    if self.strip_escape:
                        n += 1
                    self.end_char = _ESCAPE
            elif ch == self.end_char:
                j = i + 1
                if ch == _ESCAPE and self.strip_escape:
                    j = i
                self.append(data[n:j])
                n = i + 1
                self.end_escape()
        self.append(data[n:])


def tabwrite(data: bytes, *, minwidth: int = 12, tabwidth: int = 2, padding: int = 2, padchar: bytes = b" ",
             strip_escape: bool = True) -> bytes:
    """Everything `data` becomes through a tabwriter that is flushed at the end
    (defaults: containers/common report's `tabwriter.NewWriter(w, 12, 2, 2, ' ', StripEscape)`)."""
    w = _Writer(minwidth, tabwidth, padding, padchar, strip_escape)
    w.write(data)
    w.flush()
    return bytes(w.out)
