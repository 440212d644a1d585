# The same targets as the Makefile (which holds the recipes): setup, run, test, lint, bench.
set shell := ["bash", "-cu"]

setup:
    make setup

run:
    make run

test:
    make test

lint:
    make lint

bench:
    make bench
