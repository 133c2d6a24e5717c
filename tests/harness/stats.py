"""Statistics for the benches: medians, and ratios paired by round.

Runs on this lab's VM are bimodal (docs/performance.md), so a bench alternates what it
compares within one invocation (A B A B ...) and reports, for every ratio, the median of
the per-round ratios: each ratio is taken between two measurements of the same round.

A bench's raw results are a text file with one measurement per line:

    ROUND KEY VALUE VALUE ...

ROUND names the round (any word, usually 1, 2, ...), KEY the measurement (for example
``udp-kernel-kernel``), and the values are numbers in a column order the bench chooses.
``read_rounds`` turns that into ``{key: {round: [values]}}``, keys and rounds in the
order they first appear.
"""

import math
import statistics

NAN = float("nan")


def median(values):
    """The median of VALUES (the mean of the middle two for an even count).

    Raises ValueError on an empty sequence: a median of nothing is a bench bug, not 0.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def parse_rounds(lines):
    """{key: {round: [float, ...]}} from "ROUND KEY VALUE..." lines; blank lines skipped.

    A key measured twice in one round is an error (it would make the pairing ambiguous).
    """
    out = {}
    for n, line in enumerate(lines, 1):
        words = line.split()
        if not words:
            continue
        if len(words) < 3:
            raise ValueError(f"line {n}: want 'ROUND KEY VALUE...', got {line.strip()!r}")
        rnd, key, *vals = words
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            raise ValueError(f"line {n}: a value is not a number: {line.strip()!r}") from None
        per_key = out.setdefault(key, {})
        if rnd in per_key:
            raise ValueError(f"line {n}: {key} measured twice in round {rnd}")
        per_key[rnd] = nums
    return out


def read_rounds(path):
    """parse_rounds of the file at PATH."""
    with open(path) as f:
        return parse_rounds(f)


def column_medians(rounds, columns=None):
    """{key: [median of each column over the rounds]} for a read_rounds result.

    COLUMNS, if given, keeps only the first COLUMNS values of every row. Rows of one key
    with different lengths are cut to the shortest.
    """
    med = {}
    for key, per_round in rounds.items():
        rows = [r[:columns] if columns is not None else r for r in per_round.values()]
        med[key] = [median(col) for col in zip(*rows)]
    return med


def paired_ratios(rounds, num, den, col, den_col=None):
    """The per-round ratios rounds[num][r][col] / rounds[den][r][den_col], in round order,
    for every round in which both keys were measured and the denominator is not 0.

    DEN_COL defaults to COL. A missing key gives no ratios.
    """
    den_col = col if den_col is None else den_col
    a, b = rounds.get(num, {}), rounds.get(den, {})
    out = []
    for rnd, row in a.items():
        other = b.get(rnd)
        if other is None or col >= len(row) or den_col >= len(other):
            continue
        if other[den_col] == 0 or math.isnan(other[den_col]):
            continue
        out.append(row[col] / other[den_col])
    return out


def median_ratio(rounds, num, den, col, den_col=None):
    """The median of paired_ratios, or NaN when no round has both measurements."""
    r = paired_ratios(rounds, num, den, col, den_col)
    return median(r) if r else NAN
