"""Least squares with a free level per group, in plain Python.

The model for one window is ``percent_i = level_g + beta . x_i``: a reading is
the level of its group (zero-ish for readings anchored at their window's
start, free for a chain whose start the ledger does not see) plus the counted
usage since the group's start. Levels are nuisance parameters: subtracting each
group's means removes them (the within estimator), and what remains is a
regression through the origin on a handful of columns.

``Running`` keeps the demeaned sums under additions and removals, so a scan
over split points costs one pass. ``nnls`` is Lawson and Hanson's active-set
method on the normal equations, enough for the few columns a plan can weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TINY = 1e-12


class Running:
    """Demeaned sums of one scalar regressor and the response, over groups."""

    __slots__ = ("g", "n", "sxx", "sxy", "syy")

    def __init__(self):
        self.g: dict = {}
        self.n = 0
        self.sxx = self.sxy = self.syy = 0.0

    @staticmethod
    def _part(s: list[float]) -> tuple[float, float, float]:
        n, sx, sy, sxx, sxy, syy = s
        return sxx - sx * sx / n, sxy - sx * sy / n, syy - sy * sy / n

    def _change(self, key, x: float, y: float, sign: int) -> None:
        s = self.g.get(key)
        if s is not None:
            a, b, c = self._part(s)
            self.sxx -= a
            self.sxy -= b
            self.syy -= c
        else:
            s = self.g[key] = [0, 0.0, 0.0, 0.0, 0.0, 0.0]
        s[0] += sign
        s[1] += sign * x
        s[2] += sign * y
        s[3] += sign * x * x
        s[4] += sign * x * y
        s[5] += sign * y * y
        self.n += sign
        if s[0] <= 0:
            del self.g[key]
            return
        a, b, c = self._part(s)
        self.sxx += a
        self.sxy += b
        self.syy += c

    def add(self, key, x: float, y: float) -> None:
        self._change(key, x, y, 1)

    def remove(self, key, x: float, y: float) -> None:
        self._change(key, x, y, -1)

    @property
    def groups(self) -> int:
        return len(self.g)

    def beta(self) -> float | None:
        return self.sxy / self.sxx if self.sxx > TINY else None

    def rss(self) -> float:
        b = self.beta()
        return max(0.0, self.syy - (b * self.sxy if b is not None else 0.0))


@dataclass
class Fit1:
    """A one-column fit of some rows: slope, residual sum of squares, and each group's level."""

    beta: float | None
    rss: float
    n: int
    groups: int
    sxx: float
    levels: dict = field(default_factory=dict)

    def sigma2(self) -> float:
        dof = max(1, self.n - self.groups - 1)
        return self.rss / dof


def fit1(ys: list[float], xs: list[float], keys: list, rows) -> Fit1:
    run = Running()
    for i in rows:
        run.add(keys[i], xs[i], ys[i])
    beta = run.beta()
    levels = {}
    for key, (n, sx, sy, *_rest) in run.g.items():
        levels[key] = (sy - (beta or 0.0) * sx) / n
    return Fit1(beta, run.rss(), run.n, run.groups, run.sxx, levels)


def gram(ys: list[float], rows_x: list[list[float]], keys: list, rows) -> tuple[list[list[float]], list[float], float]:
    """Demeaned X'X, X'y and y'y over ``rows`` for several columns."""
    k = len(rows_x[rows[0]]) if rows else 0
    sums: dict = {}
    for i in rows:
        s = sums.get(keys[i])
        if s is None:
            s = sums[keys[i]] = [0, [0.0] * k, 0.0]
        s[0] += 1
        x = rows_x[i]
        for a in range(k):
            s[1][a] += x[a]
        s[2] += ys[i]
    g = [[0.0] * k for _ in range(k)]
    h = [0.0] * k
    yy = 0.0
    for i in rows:
        n, sx, sy = sums[keys[i]]
        x = rows_x[i]
        dx = [x[a] - sx[a] / n for a in range(k)]
        dy = ys[i] - sy / n
        yy += dy * dy
        for a in range(k):
            if dx[a] == 0.0:
                continue
            h[a] += dx[a] * dy
            row = g[a]
            for b in range(a, k):
                row[b] += dx[a] * dx[b]
    for a in range(k):
        for b in range(a):
            g[a][b] = g[b][a]
    return g, h, yy


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting and a whisker of ridge."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    scale = max((abs(m[i][i]) for i in range(n)), default=1.0) or 1.0
    for i in range(n):
        m[i][i] += 1e-12 * scale
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        piv = m[c][c]
        if abs(piv) < TINY:
            continue
        for r in range(c + 1, n):
            f = m[r][c] / piv
            if f:
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        piv = m[r][r]
        acc = m[r][n] - sum(m[r][k] * out[k] for k in range(r + 1, n))
        out[r] = acc / piv if abs(piv) >= TINY else 0.0
    return out


def nnls(g: list[list[float]], h: list[float], *, tol: float = 1e-10, max_iter: int = 200) -> list[float]:
    """argmin |Xw - y|^2 subject to w >= 0, from G = X'X and h = X'y (Lawson-Hanson)."""
    k = len(h)
    w = [0.0] * k
    active: list[int] = []
    scale = max((abs(v) for v in h), default=0.0) or 1.0
    for _ in range(max_iter):
        grad = [h[a] - sum(g[a][b] * w[b] for b in range(k)) for a in range(k)]
        free = [a for a in range(k) if a not in active and grad[a] > tol * scale]
        if not free:
            break
        active.append(max(free, key=lambda a: grad[a]))
        while True:
            z = solve([[g[a][b] for b in active] for a in active], [h[a] for a in active])
            negative = [(a, v) for a, v in zip(active, z) if v <= 0]
            if not negative:
                for a in range(k):
                    w[a] = 0.0
                for a, v in zip(active, z):
                    w[a] = v
                break
            ratios = [w[a] / (w[a] - v) for a, v in negative if w[a] - v > 0]
            alpha = min(ratios) if ratios else 0.0
            for a, v in zip(active, z):
                w[a] += alpha * (v - w[a])
            active = [a for a in active if w[a] > tol]
            for a in range(k):
                if a not in active:
                    w[a] = 0.0
            if not active:
                break
    return w


def rss_of(g: list[list[float]], h: list[float], yy: float, w: list[float]) -> float:
    k = len(w)
    quad = sum(w[a] * g[a][b] * w[b] for a in range(k) for b in range(k))
    return max(0.0, yy - 2 * sum(w[a] * h[a] for a in range(k)) + quad)
