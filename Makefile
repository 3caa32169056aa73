# One command is the truth: `make test` is what CI runs.
.PHONY: test test-go lint fuzz compat bench deps build demo

test:
	scripts/test.sh

deps:
	scripts/deps.sh

build:
	go build -o bin/ ./cmd/...

lint:
	scripts/lint.sh

test-go:
	go test -race ./...

fuzz:
	scripts/fuzz.sh 30s

# The Python compat suite, every folder and every env, exactly as `make test` runs it (the folders
# are discovered by scripts/test.sh, which installs what they need first).
compat:
	scripts/test.sh compat

bench:
	go test -run='^$$' -bench=. -benchmem ./...

# laurel vs Daphne side by side (docs/benchmarks.md): regenerates the doc's results table and chart.
BENCH_SCENARIOS ?= fanout-1k,fanout-1k/pubsub,fanout-1k/process,throughput-1k,throughput-go-1k@laurel,throughput-go-1k/pubsub@laurel,throughput-go-10k@laurel,storm-sqlite,storm-postgres,many-10k@laurel,fanout-10k@laurel,idle-10k,idle-50k@laurel,idle-100k@laurel
# Connect storms are profiled (laurel serve --pprof); the profiles go to bin/bench-profiles.
BENCH_FLAGS ?= -pprof-dir bin/bench-profiles -pprof-seconds 5s
bench-compare:
	go build -o bin/laurel-bench ./cmd/laurel-bench
	bin/laurel-bench compare -scenarios $(BENCH_SCENARIOS) $(BENCH_FLAGS) -json docs/benchmarks.json -doc docs/benchmarks.md -png docs/img/benchmarks.png
