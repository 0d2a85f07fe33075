#!/usr/bin/env bash
# GPU check of the burn backends, run on a lent GPU machine (the `device` tool) with binaries
# built here, since that machine has no Rust toolchain:
#   cargo test  -p icor-probe   --features wgpu --test backends     --no-run
#   cargo bench -p icor-benches --features wgpu --profile dev --bench train_step --no-run
# copied stripped and gzipped to .devbin/backends.gz and .devbin/train_step.gz, the Vulkan
# loader packages in .gl/ (see the device tool's README). Writes its logs to $OUT.
set -u
for b in backends train_step; do gunzip -c ".devbin/$b.gz" > "/tmp/$b" && chmod +x "/tmp/$b"; done
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/device.txt" 2>&1
lscpu | grep -E "Model name|^CPU\(s\)" >> "$OUT/device.txt"
echo "== backends test suite on every compiled backend (cpu + wgpu)"
/tmp/backends --test-threads 1 --nocapture 2>&1 | tee "$OUT/tests.log"
echo "== one training step, cpu and wgpu, same run"
/tmp/train_step --bench --warm-up-time 1 --measurement-time 3 --noplot 2>&1 | tee "$OUT/bench.log"
