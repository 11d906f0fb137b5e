#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the bad-input corpus (tests/bad-inputs) and valid inputs
# written by the biaslens CLI. Run from the repository root after `cargo build -p biaslens-cli`.
set -euo pipefail
B=${BIASLENS:-target/debug/biaslens}
C=fuzz/corpus
T=tests/bad-inputs
mkdir -p $C/{celeba_attributes,own_csv,weights,npy,report_import,config_fragment,config_json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
seed() { cp "$2" "$C/$1/$(printf 'seed-%03d' $n)-$(basename "$2")"; n=$((n + 1)); }

# Valid files: a small CelebA-layout export, a tiny experiment's config, report and results.
"$B" data export --out "$tmp/export" --count 12 --size 16 >/dev/null 2>&1
for f in "$tmp"/export/list_*; do seed celeba_attributes "$f"; done
"$B" demo --print-config > "$tmp/demo.json"
cat > "$tmp/tiny.json" <<'JSON'
{"name":"tiny","phis":[-0.5],"data":{"synthetic":{"size":16},"pool":400},"splits":{"train":64,"debias":32,"test":16},"train":{"epochs":1,"batch_size":32},"methods":[{"method":"thr_opt"}],"attribution":{"images":4,"batch_size":4,"ig":{"steps":2,"steps_per_chunk":2}},"metrics":{"bootstrap":{"resamples":10}}}
JSON
"$B" run --config "$tmp/tiny.json" --out "$tmp/report.html" --json "$tmp/results.json" --quiet >/dev/null
for f in "$tmp/demo.json" "$tmp/tiny.json"; do seed config_json "$f"; done
for f in "$tmp/report.html" "$tmp/results.json"; do seed report_import "$f"; done
python3 -c 'import base64,sys; print("#config=" + base64.urlsafe_b64encode(open(sys.argv[1],"rb").read()).decode().rstrip("="))' "$tmp/tiny.json" > "$tmp/tiny.fragment"
seed config_fragment "$tmp/tiny.fragment"

# The bad-input corpus.
for f in $T/celeba/*/list_*; do seed celeba_attributes "$f"; done
for f in $T/own/*.csv; do seed own_csv "$f"; done
for f in $T/weights/*.safetensors; do seed weights "$f"; done
for f in $T/npy/*.npy; do seed npy "$f"; done
for f in $T/report/*; do seed report_import "$f"; done
for f in $T/config/*.json; do seed config_json "$f"; done
python3 - "$C/config_fragment" <<'PY'
import json, sys
cases = json.load(open("tests/bad-inputs/cases.json"))["cases"]
for c in cases:
    if c["entry"] == "link":
        open(f"{sys.argv[1]}/{c['id']}", "w").write(c["params"]["fragment"])
PY
echo "seeded: $(for d in $C/*; do printf '%s=%s ' "$(basename $d)" "$(ls $d | wc -l)"; done)"
