"""What GET /n must answer: its value n and sum, the sum of sqrt(i) for 0 <= i < n."""
import json
import math

ZETA_MINUS_HALF = -0.20788622497735456601730672539704930222626853128767


def expected_sum(n):
    """sum(sqrt(i) for 0 <= i < n): exact below 1000, Euler-Maclaurin above (error < 1e-13)."""
    if n < 1000:
        return math.fsum(math.sqrt(i) for i in range(n))
    r = math.sqrt(n)
    return 2.0 / 3.0 * n * r - 0.5 * r + ZETA_MINUS_HALF + 1.0 / (24.0 * r)


def body_problem(body, n):
    """None if body is the right answer to GET /n, else what is wrong with it."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if doc.get("value") != n:
        return f"value {doc.get('value')!r} for n={n}"
    want, got = expected_sum(n), doc.get("sum")
    if not isinstance(got, (int, float)) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
        return f"sum {got!r} for n={n}, expected about {want!r}"
    return None
