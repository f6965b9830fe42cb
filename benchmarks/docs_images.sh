#!/bin/sh
# Rebuild the pictures in docs/ from real runs of the commands the README shows:
#   docs/report.png          `kspacekit demo` (simulated data), top of report.html
#   docs/benchmark_real.png  `kspacekit benchmark` on real 8-channel brain k-space (shared data)
#   docs/show.png            `kspacekit show` of real Poisson-disc undersampled k-space (shared data)
#   docs/export.png          the PNG slices `kspacekit export --format png` writes (demo TV, 4x)
# Needs Debian's chromium (make test-deps) and ../shared/data beside the repository.
# Usage, from the repository root: sh benchmarks/docs_images.sh
set -eu
KS=.venv/bin/kspacekit
PY=.venv/bin/python
DATA=../shared/data/kspace
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

$KS demo --output "$WORK/demo"
$KS convert "$DATA/espirit_brain_full_8ch.cfl" "$WORK/real/espirit_brain.h5"
$KS benchmark --data "$WORK/real" --seeds 5 --output "$WORK/real_report" \
    --title "kspacekit benchmark: real 8-channel brain k-space (ESPIRiT example data), 5 mask draws"
$KS convert "$DATA/sigpy_tutorial_brain_poisson8x_8ch.npy" "$WORK/sigpy_poisson8x.h5"
$KS show "$WORK/sigpy_poisson8x.h5" --output docs/show.png --overwrite
$KS export --format png "$WORK/demo/reconstructions/tv/4x/mask0/mni_icbm152_t1_tal_nlin_sym_09a_converted_axial.h5" "$WORK/png"

for name in demo real_report; do
    /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/profile" --hide-scrollbars --window-size=1300,4200 \
        --screenshot="$WORK/$name.png" "file://$WORK/$name/report.html" 2>/dev/null
done

WORK="$WORK" $PY - <<'EOF'
import os
from pathlib import Path

from PIL import Image

work = Path(os.environ["WORK"])


def save(image: Image.Image, out: str, width: int = 1000) -> None:
    image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)


save(Image.open(work / "demo.png").crop((0, 0, 1300, 1880)), "docs/report.png")
save(Image.open(work / "real_report.png").crop((0, 0, 1300, 2620)), "docs/benchmark_real.png")
slices = [Image.open(p) for p in sorted((work / "png").glob("*.png"))]
montage = Image.new("L", (sum(s.width for s in slices) + 8 * (len(slices) - 1), max(s.height for s in slices)), 255)
x = 0
for s in slices:
    montage.paste(s, (x, 0))
    x += s.width + 8
save(montage, "docs/export.png")
EOF
echo "docs/report.png docs/benchmark_real.png docs/show.png docs/export.png rebuilt"
