"""Drawing primitives of the generated characters: colour helpers and a pen that draws in a
character's own rotated unit coordinates."""
import math

import numpy as np

SHADE_JITTER = 10  # +- per channel: random shade variation of a hair or eye colour


def pick(rng, table):
    """A name drawn from a table of (name, probability) pairs."""
    names, p = zip(*table)
    return names[rng.choice(len(names), p=np.array(p) / sum(p))]


def shade(rng, rgb):
    """`rgb` with a small random per-channel variation."""
    jitter = rng.integers(-SHADE_JITTER, SHADE_JITTER + 1, 3)
    return tuple(int(v) for v in np.clip(np.array(rgb) + jitter, 0, 255))


def darker(rgb, f=0.7):
    """`rgb` scaled towards black."""
    return tuple(int(v * f) for v in rgb)


def lighter(rgb):
    """`rgb` mixed 40% towards white."""
    return tuple(int(v + (255 - v) * .4) for v in rgb)


def oval_points(x, y, rx, ry, n=20, a0=0.0, a1=2 * math.pi):
    """Points on an ellipse arc from angle a0 to a1 (y down, so pi..2pi is the upper half)."""
    return [(x + rx * math.cos(t), y + ry * math.sin(t)) for t in np.linspace(a0, a1, n)]


class Pen:
    """Draws shapes given in a character's unit coordinates (head radius 1, y down)."""

    def __init__(self, draw, cx, cy, scale, angle):
        self.draw, self.scale = draw, scale
        self.m = (cx, cy, scale * math.cos(angle), scale * math.sin(angle))
        self.lw = max(1, round(scale * 0.05))

    def pts(self, points, sx=1):  # sx=-1 mirrors the points to the character's other side
        cx, cy, c, s = self.m
        return [(cx + c * sx * x - s * y, cy + s * sx * x + c * y) for x, y in points]

    def poly(self, points, fill, outline=None, sx=1):
        self.draw.polygon(self.pts(points, sx), fill=fill, outline=outline, width=self.lw)

    def oval(self, x, y, rx, ry, fill, outline=None):
        # a polygon, not draw.ellipse, so that it rotates with the character
        self.poly(oval_points(x, y, rx, ry), fill, outline)

    def line(self, points, fill, width, sx=1):
        self.draw.line(self.pts(points, sx), fill, max(1, round(width * self.scale)), joint="curve")
