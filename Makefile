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

compat: deps
	.venv/bin/python -m pytest -c compat_tests/pytest.ini compat_tests

bench:
	go test -run='^$$' -bench=. -benchmem ./...
