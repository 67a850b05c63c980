"""bench/gpu.py --short: the GPU run's script works end to end on any machine, and says
honestly when there is no GPU. Nothing here times anything."""
import re
import shutil

from bench import gpu


def test_the_short_gpu_run_trains_each_size_tags_and_reports(tmp_path):
    out = tmp_path / "gpu.md"
    assert gpu.main(["--short", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    text = out.read_text()
    for size in gpu.SHORT["sizes"]:
        rate = re.search(rf"^\| train\.py {size} px \| ([\d,]+) images/s \|", text, re.M)
        assert rate and int(rate.group(1).replace(",", "")) > 0, text
    assert re.search(r"^\| tag\.py, Keras[^|]* \| [\d,]+ pictures/s \|", text, re.M), text
    pictures = sorted((tmp_path / "work" / "pictures").glob("*.jpg"))
    assert len(pictures) == gpu.SHORT["pictures"]
    assert all(p.with_suffix(".txt").exists() for p in pictures)  # tag.py captioned them
    if shutil.which("nvidia-smi") is None:
        assert "GPU: no GPU" in text and "| no GPU |" in text
        assert re.search(r"^\| tag\.py, onnxruntime CUDA \| not available \|", text, re.M)
