"""Context selection on a small real git repository: ranking, budget, excerpts, map, instructions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.agent.context import ContextBundle, build_context, count_tokens, rank_files, render_context

CART = '''"""Shopping cart."""

from shop.pricing import apply_discount


class Cart:
    def __init__(self):
        self.items = []

    def add_item(self, sku, quantity=1):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.items.append((sku, quantity))

    def total(self, prices):
        return apply_discount(sum(prices[sku] * qty for sku, qty in self.items))
'''
PRICING = '''"""Prices and discounts."""


def apply_discount(amount, percent=0):
    return amount * (100 - percent) / 100


def round_price(amount):
    return round(amount, 2)
'''
PAYMENT = '''"""Talking to the payment provider."""

import json


class PaymentGateway:
    def charge(self, card_token, amount_cents):
        payload = json.dumps({"token": card_token, "amount": amount_cents})
        return self._post("/charges", payload)

    def refund(self, charge_id):
        return self._post(f"/charges/{charge_id}/refund", "{}")

    def _post(self, url, body):
        raise NotImplementedError
'''
SHIPPING = '''"""Shipping rates by region."""


def shipping_rate(region, weight_kg):
    table = {"eu": 4.5, "us": 6.0}
    return table.get(region, 9.0) * max(1, weight_kg)
'''
TEST_CART = '''from shop.cart import Cart


def test_cart_add_item():
    cart = Cart()
    cart.add_item("SKU-1", 2)
    assert cart.items == [("SKU-1", 2)]
'''


def _filler_function(number: int) -> str:
    return (
        f"def report_section_{number}(rows):\n"
        f"    \"\"\"Render section {number} of the monthly sales report.\"\"\"\n"
        f"    lines = [f'{{row.name}}: {{row.value}}' for row in rows]\n"
        f"    return '\\n'.join(lines)\n\n\n"
    )


LARGE_REPORT = (
    '"""Monthly reports."""\n\n\n'
    + "".join(_filler_function(n) for n in range(400))
    + "def export_invoice_csv(invoices, delimiter=','):\n"
    + "    header = delimiter.join(['number', 'customer', 'amount'])\n"
    + "    rows = [delimiter.join([i.number, i.customer, str(i.amount)]) for i in invoices]\n"
    + "    return '\\n'.join([header, *rows])\n\n\n"
    + "".join(_filler_function(n) for n in range(400, 800))
)


def _git(root: Path, *args: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com",
        "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env, timeout=30)


def _make_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    return root


SHOP = {
    "README.md": "# Shop\n\nA tiny web shop.\n",
    "shop/__init__.py": "",
    "shop/cart.py": CART,
    "shop/pricing.py": PRICING,
    "shop/payment.py": PAYMENT,
    "shop/shipping.py": SHIPPING,
    "tests/test_cart.py": TEST_CART,
    "docs/payments.md": "# Payments\n\nCharges go through the payment gateway.\n",
}


@pytest.fixture
def shop_repo(tmp_path: Path) -> Path:
    return _make_repo(tmp_path / "shop", SHOP)


@pytest.mark.parametrize(
    ("instruction", "expected_first"),
    [
        ("Shipping to Canada costs too much: see shop/shipping.py", "shop/shipping.py"),
        ("In `pricing.py`, round discounts to cents", "shop/pricing.py"),
        ("shop.payment should retry once on a timeout", "shop/payment.py"),
        ("PaymentGateway.refund ignores partial amounts", "shop/payment.py"),
        ("apply_discount returns floats with many decimals", "shop/pricing.py"),
    ],
)
def test_rank_files_puts_the_named_file_first(shop_repo: Path, instruction: str, expected_first: str) -> None:
    assert build_context(shop_repo, instruction, 20_000).ranking[0] == expected_first


def test_rank_files_follows_stack_trace_frames() -> None:
    files = {path: text for path, text in SHOP.items() if path.endswith(".py")}
    instruction = (
        "Checkout crashes:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/venv/lib/python3.11/site-packages/shop/shipping.py", line 6, in shipping_rate\n'
        "TypeError: unsupported operand type(s) for *: 'float' and 'NoneType'\n"
    )
    assert rank_files(files, instruction)[0] == "shop/shipping.py"


def test_rank_files_works_on_a_mapping_without_checkout_and_is_deterministic() -> None:
    files = {path: text for path, text in SHOP.items() if path.endswith(".py")}
    instruction = "Cart.add_item accepts a quantity of zero"
    first = rank_files(files, instruction)
    assert first == rank_files(dict(reversed(list(files.items()))), instruction)
    assert first[0] == "shop/cart.py"
    assert sorted(first) == sorted(files)
    assert rank_files(lambda: files, instruction) == first


@pytest.mark.parametrize("budget", [40, 300, 1_000, 2_500, 20_000])
def test_build_context_stays_within_budget(tmp_path: Path, budget: int) -> None:
    repo = _make_repo(tmp_path / "r", {**SHOP, "shop/reports.py": LARGE_REPORT})
    bundle = build_context(repo, "export_invoice_csv ignores the delimiter argument", budget)
    assert bundle.tokens <= budget
    rendered = render_context(bundle)
    assert count_tokens(rendered) + count_tokens(bundle.repo_instructions or "") == bundle.tokens


def test_build_context_sends_whole_files_that_fit(shop_repo: Path) -> None:
    bundle = build_context(shop_repo, "Cart.add_item accepts a quantity of zero", 20_000)
    assert ("shop/cart.py", CART) in bundle.files
    assert "shop/cart.py\n```python\n" + CART in render_context(bundle)


def test_build_context_cuts_a_large_file_to_the_relevant_part(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "r", {**SHOP, "shop/reports.py": LARGE_REPORT})
    assert count_tokens(LARGE_REPORT) > 20_000
    bundle = build_context(repo, "export_invoice_csv ignores the delimiter argument", 4_000)
    files = dict(bundle.files)
    part = files["shop/reports.py"]
    assert part.startswith("... (excerpt)")
    assert "def export_invoice_csv(invoices, delimiter=','):" in part
    assert "    return '\\n'.join([header, *rows])" in part  # the whole body, verbatim
    assert "def report_section_700(rows):" not in part


def test_build_context_returns_repo_instructions(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "r", {
        **SHOP,
        "AGENTS.md": "Run `make test` before committing. Use type hints everywhere.\n",
        ".github/copilot-instructions.md": "Prices are integers in cents.\n",
    })
    bundle = build_context(repo, "round prices", 10_000)
    assert bundle.repo_instructions is not None
    assert "Run `make test` before committing." in bundle.repo_instructions
    assert "Prices are integers in cents." in bundle.repo_instructions
    assert all(path != "AGENTS.md" for path, _ in bundle.files)


def test_build_context_without_instructions_files_returns_none(shop_repo: Path) -> None:
    assert build_context(shop_repo, "round prices", 10_000).repo_instructions is None


def test_build_context_skips_binary_lock_vendored_and_minified_files(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "r", {
        **SHOP,
        "package-lock.json": '{"name": "shop", "lockfileVersion": 3, "packages": {"cart": {}}}\n',
        "poetry.lock": '[[package]]\nname = "cart"\nversion = "1.0"\n',
        "static/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR cart",
        "data/cart.bin": b"cart\x00\x01\x02cart",
        "vendor/cartlib/cart.py": "class Cart:\n    pass\n",
        "static/app.min.js": "var cart=1;" * 2000,
    })
    bundle = build_context(repo, "cart lock png bin vendor Cart", 50_000)
    skipped = {"package-lock.json", "poetry.lock", "static/logo.png", "data/cart.bin", "vendor/cartlib/cart.py",
               "static/app.min.js"}
    assert not skipped & set(bundle.ranking)
    assert not skipped & {path for path, _ in bundle.files}
    assert "shop/cart.py" in bundle.ranking


def test_build_context_does_not_follow_symlinks(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("api_key = hunter2\n")
    repo = _make_repo(tmp_path / "r", SHOP)
    (repo / "shop" / "keys.py").symlink_to(secret)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "link")
    bundle = build_context(repo, "where is the api_key", 20_000)
    assert "hunter2" not in render_context(bundle)


def test_repo_map_lists_python_top_level_definitions(shop_repo: Path) -> None:
    bundle = build_context(shop_repo, "payment refunds", 20_000)
    lines = bundle.repo_map.splitlines()
    assert "shop/payment.py" in lines
    assert "  class PaymentGateway: charge, refund, _post" in lines
    assert "  def apply_discount" in lines
    assert "  def round_price" in lines
    assert "tests/test_cart.py" in lines
    assert "README.md" in lines


def test_render_context_fences_markdown_that_contains_fences() -> None:
    readme = "Usage:\n\n```sh\nmake test\n```\n"
    bundle = ContextBundle("README.md", [("README.md", readme)], None, 0, ["README.md"])
    assert "README.md\n````markdown\n" + readme + "\n````" in render_context(bundle)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("hello world", 2), ("", 0), ("def add_item(self, sku):", 7)],
)
def test_count_tokens_gives_cl100k_counts_offline(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens
