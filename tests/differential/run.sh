#!/usr/bin/env bash
# Differential check of the LexisNexis judge against identity-idp's own Ruby
# at the reference commit, over random answers. Not part of `cargo test`: it
# needs Ruby with ActiveSupport (Debian: apt-get install ruby ruby-activesupport)
# and a git copy of 18F/identity-idp that holds commit a52223a.
#   tests/differential/run.sh IDP_GIT_DIR [SEEDS] [ANSWERS_PER_SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
idp=${1:?usage: run.sh IDP_GIT_DIR [SEEDS] [ANSWERS_PER_SEED]}
seeds=${2:-3}
count=${3:-4000}
commit=a52223a

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for file in \
  app/services/proofing/resolution/result.rb \
  app/services/proofing/lexis_nexis/verification_error_parser.rb \
  app/services/proofing/lexis_nexis/response.rb \
  app/services/proofing/lexis_nexis/instant_verify/check_to_attribute_mapper.rb \
  app/services/proofing/lexis_nexis/instant_verify/proofer.rb; do
  git --git-dir "$idp" show "$commit:$file" > "$work/$(basename "$file")"
done

cargo build --quiet --release --example judge_answers
# Every seed runs and reports; the exit status says whether any differed.
failed=0
for seed in $(seq 1 "$seeds"); do
  python3 tests/differential/generate.py "$seed" "$count" > "$work/answers.jsonl"
  ruby tests/differential/identity_idp_judge.rb "$work" < "$work/answers.jsonl" > "$work/identity_idp.jsonl"
  target/release/examples/judge_answers < "$work/answers.jsonl" > "$work/proxy.jsonl"
  printf 'seed %s: ' "$seed"
  python3 tests/differential/compare.py "$work/answers.jsonl" "$work/identity_idp.jsonl" "$work/proxy.jsonl" ||
    failed=1
done
exit "$failed"
