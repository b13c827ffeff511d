"""Render a `tmux capture-pane -e -p` dump (ANSI colours) to a PNG.

Used for assets/screenshot.png:

    tmux capture-pane -e -p -t alice > alice.ansi
    python3 scripts/ansi2png.py alice.ansi assets/screenshot.png 100 26

Needs Pillow and the DejaVu Sans Mono font (Debian: fonts-dejavu-core).
"""
import re, sys
from PIL import Image, ImageDraw, ImageFont

src, dst, cols, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
size = 15
font, bold = ImageFont.truetype(FONT, size), ImageFont.truetype(BOLD, size)
cw = round(font.getlength("M"))
ch = size + 5
BASE = [(0x1e,0x1e,0x2e),(0xf3,0x8b,0xa8),(0xa6,0xe3,0xa1),(0xf9,0xe2,0xaf),(0x89,0xb4,0xfa),(0xf5,0xc2,0xe7),(0x94,0xe2,0xd5),(0xba,0xc2,0xde),
        (0x58,0x5b,0x70),(0xf3,0x8b,0xa8),(0xa6,0xe3,0xa1),(0xf9,0xe2,0xaf),(0x89,0xb4,0xfa),(0xf5,0xc2,0xe7),(0x94,0xe2,0xd5),(0xcd,0xd6,0xf4)]
def x256(n):
    if n < 16: return BASE[n]
    if n < 232:
        n -= 16; v = [0,95,135,175,215,255]
        return (v[n//36], v[(n//6)%6], v[n%6])
    g = 8 + (n-232)*10; return (g,g,g)
DEF_FG, DEF_BG = (0xcd,0xd6,0xf4), (0x1e,0x1e,0x2e)
img = Image.new("RGB", (cols*cw + 20, rows*ch + 20), DEF_BG)
d = ImageDraw.Draw(img)
import unicodedata
def width(c):
    if unicodedata.combining(c): return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1
lines = open(src, encoding="utf-8").read().split("\n")[:rows]
st = dict(fg=None, bg=None, bold=False, rev=False, dim=False)
for y, line in enumerate(lines):
    x = 0
    for tok in re.split(r"(\x1b\[[0-9;]*m)", line):
        if tok.startswith("\x1b["):
            ps = [int(p) if p else 0 for p in tok[2:-1].split(";")] or [0]
            i = 0
            while i < len(ps):
                p = ps[i]
                if p == 0: st = dict(fg=None, bg=None, bold=False, rev=False, dim=False)
                elif p == 1: st["bold"] = True
                elif p == 2: st["dim"] = True
                elif p == 22: st["bold"] = st["dim"] = False
                elif p == 7: st["rev"] = True
                elif p == 27: st["rev"] = False
                elif 30 <= p <= 37: st["fg"] = BASE[p-30]
                elif 90 <= p <= 97: st["fg"] = BASE[p-90+8]
                elif 40 <= p <= 47: st["bg"] = BASE[p-40]
                elif 100 <= p <= 107: st["bg"] = BASE[p-100+8]
                elif p == 39: st["fg"] = None
                elif p == 49: st["bg"] = None
                elif p in (38, 48):
                    if ps[i+1] == 5: col = x256(ps[i+2]); i += 2
                    else: col = tuple(ps[i+2:i+5]); i += 4
                    st["fg" if p == 38 else "bg"] = col
                i += 1
            continue
        for c in tok:
            w = width(c)
            if w == 0: continue
            fg, bg = st["fg"] or DEF_FG, st["bg"] or DEF_BG
            if st["rev"]: fg, bg = bg, fg
            if st["dim"]: fg = tuple(v//2 + bg[k]//2 for k, v in enumerate(fg))
            px, py = 10 + x*cw, 10 + y*ch
            d.rectangle([px, py, px + w*cw - 1, py + ch - 1], fill=bg)
            if c in "─│┌┐└┘":
                mx, my = px + cw//2, py + ch//2
                if c in "─┌└": d.line([mx if c != "─" else px, my, px+cw, my], fill=fg)
                if c in "─┐┘": d.line([px, my, mx if c != "─" else px+cw, my], fill=fg)
                if c in "│┌┐": d.line([mx, my if c != "│" else py, mx, py+ch], fill=fg)
                if c in "│└┘": d.line([mx, py, mx, my if c != "│" else py+ch], fill=fg)
            elif c != " ":
                d.text((px, py + 2), c, font=bold if st["bold"] else font, fill=fg)
            x += w
img.save(dst, optimize=True)
