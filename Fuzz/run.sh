#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each on its seed corpus.
#
#   Fuzz/run.sh [seconds per target, default 60] [target ...]
#
# Targets: UidlistFuzzer MaildirFileNameFuzzer ControlFilesFuzzer FrameDecoderFuzzer (all when none given).
# New inputs libFuzzer finds go to Fuzz/.work/<corpus>/ (not tracked); crashes are written
# to Fuzz/.work/ as crash-<hash>. Exits non-zero when a target crashes.
set -euo pipefail

cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(UidlistFuzzer MaildirFileNameFuzzer ControlFilesFuzzer FrameDecoderFuzzer)
fi

corpus_of() {
    case "$1" in
        UidlistFuzzer) echo uidlist ;;
        MaildirFileNameFuzzer) echo filename ;;
        ControlFilesFuzzer) echo controlfiles ;;
        FrameDecoderFuzzer) echo frames ;;
        *) echo "unknown target $1" >&2; exit 64 ;;
    esac
}

# `--sanitize=fuzzer` makes SwiftPM link with libFuzzer's main (without it SwiftPM renames
# the executable's entry point and the link fails). The -Xswiftc flag must name both
# sanitizers in one option: swiftc keeps only the last -sanitize= it is given, and SwiftPM's
# `--sanitize=fuzzer --sanitize=address` would leave the code without coverage counters.
flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
for target in "${targets[@]}"; do
    corpus_of "$target" >/dev/null
    # One product at a time: a plain `swift build` would also build the main package's CLI.
    swift build "${flags[@]}" --product "$target"
done
bin=$(swift build "${flags[@]}" --show-bin-path)

# Let libFuzzer and ASan report crashes; Swift's backtracer would wait on the dead process.
export SWIFT_BACKTRACE=enable=no

status=0
for target in "${targets[@]}"; do
    corpus=$(corpus_of "$target")
    mkdir -p ".work/$corpus"
    echo "==> $target: ${seconds}s on Corpus/$corpus"
    if ! "$bin/$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        -artifact_prefix=".work/" ".work/$corpus" "Corpus/$corpus"; then
        echo "==> $target FAILED (see .work/crash-*)" >&2
        status=1
    fi
done
exit $status
