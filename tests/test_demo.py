"""`make demo` shows the product without Telegram credentials: it runs and prints the links."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_demo_prints_the_bots_answers_with_links(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tests" / "demo.py"), "--no-hold", "--port", "0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Alice sends a 24 MiB video. The bot answers:" in result.stdout
    assert result.stdout.count("/dl/") >= 2 and "/watch/" in result.stdout
    assert "Traceback" not in result.stderr
