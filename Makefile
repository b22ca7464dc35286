# qrpay — the two commands are `make run` and `make test`.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# Local development defaults; every one can be overridden from the environment.
# Never use these values in production.
export OPERATOR_TOKEN ?= dev-operator-token
export SECRET_PEPPER  ?= dev-pepper-change-me-in-production
export CARD_TOKEN_KEY ?= dev-card-key-change-me-in-production
export MERCHANT_SECRET_KEY ?= dev-merchant-key-change-me-in-production
# Webhooks to this machine (qrpay demo's listener) are refused unless allowed.
export WEBHOOK_ALLOW_NETWORKS ?= 127.0.0.0/8,::1/128
# One-time codes are logged and readable through the operator API (qrpay demo
# and the load generator read them there); production plugs in an SMS provider.
export OTP_DELIVERY ?= outbox
# The load generator binds several cards per wallet, each with its codes.
export OTP_LIMIT_PER_PHONE ?= 60/15m

.PHONY: run test build services test-deps vet fmt-check fuzz bench bench-limit test-cluster test-cluster-short faults faults-short

## run: check PostgreSQL and Redis (starting local ones if stopped), create and migrate the database, serve on :8080
run: services build
	./bin/qrpay serve

## test: check the services, vet, then run every test with the race detector against real PostgreSQL and Redis
# (one package at a time: the gateway's tests and the browser tests each load both CPUs),
# the Redis tests again on a cluster, every fault under load briefly, then the fuzz targets
test: test-deps vet fmt-check
	@./.ci/services test
	$(GO) test -race -count=1 -p 1 ./...
	@$(MAKE) --no-print-directory test-cluster-short
	@$(MAKE) --no-print-directory faults-short
	@GO=$(GO) ./.ci/fuzz 2s $(FUZZ_TARGETS)

# The packages whose code or tests use Redis. On a cluster every one of their
# scripts and transactions must keep its keys in one hash slot.
CLUSTER_PACKAGES := ./testenv ./idem ./limits ./ratelimit ./otp ./risk ./wallet ./cmd/qrpay ./gateway/...
# make test's share: the Redis packages' own tests, and of the gateway's those
# that lean on Redis: nonces, idempotency, card and transfer limits, rate
# limits, one-time codes and approvals, risk counters, Redis down or frozen,
# two replicas, and every Redis key read back for secrets.
CLUSTER_SHORT_PACKAGES := ./testenv ./idem ./limits ./ratelimit ./otp ./risk
CLUSTER_SHORT_GATEWAY := TestSignedRequests|TestReplayRefused|IdempotentUnderConcurrency|TestMismatchNeverBecomesTheKeysOutcome|\
	TestPaymentReplayAfter|TestReplayAfterRedisLostTheRecord|TestOneQRPaidOnce|LimitsHoldUnderConcurrency|\
	TestLimitReservationsGivenBackWhenNothingCommitted|TestForgottenReservationsConvergeToTheLedger|\
	TestRateLimitsSharedByReplicas|TestLoginLockoutIsPerClient|TestMerchantKeyLimited|TestOneCodeUsedConcurrently|\
	TestOneApprovalPaysOnce|TestVelocityAsksForAStepUp|TestRiskDeclines|TestFrozenRedisFailsFast|TestRedisDownFailsClosed|\
	TestLimitsFailClosedWithoutRedis|TestTwoReplicas|TestHealth|TestSecretsAreNeitherStoredNorLogged|TestServeLifecycle
CLUSTER_PORTS ?= 7101 7102 7103

## test-cluster: start a Redis Cluster of three masters on loopback (.ci/redis-cluster), run every Redis package's tests on it, stop it
test-cluster:
	@./.ci/services test
	@REDIS_CLUSTER_PORTS="$(CLUSTER_PORTS)" ./.ci/redis-cluster run $(GO) test -race -count=1 $(CLUSTER_PACKAGES)

## test-cluster-short: the same with make test's share of the tests (the Redis packages, the gateway's Redis tests)
test-cluster-short:
	@REDIS_CLUSTER_PORTS="$(CLUSTER_PORTS)" ./.ci/redis-cluster run sh -c '\
		$(GO) test -race -count=1 -p 1 $(CLUSTER_SHORT_PACKAGES) && \
		$(GO) test -race -count=1 -run "$(subst $(space),,$(CLUSTER_SHORT_GATEWAY))" ./gateway ./cmd/qrpay'

empty :=
space := $(empty) $(empty)

# The fuzz targets, package:function (.ci/fuzz runs them one at a time).
FUZZ_TARGETS := \
	./merchant/emv:FuzzDecode ./merchant/emv:FuzzParse \
	./merchant:FuzzOrderQR ./merchant:FuzzParseQR \
	./money:FuzzParse \
	./wallet:FuzzParseCode ./wallet:FuzzPaymentCode \
	./sdk:FuzzVerifyWebhook ./sdk:FuzzSignWebhook \
	./gateway:FuzzMerchantSignature ./gateway:FuzzDecodeStrict
FUZZTIME ?= 10s

## fuzz: run each fuzz target for FUZZTIME (default 10s), one after another; failing inputs land in the package's testdata/fuzz
fuzz:
	@GO=$(GO) ./.ci/fuzz $(FUZZTIME) $(FUZZ_TARGETS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/qrpay ./cmd/qrpay

services:
	@./.ci/services

# Tools some tests need from the system (a real QR reader for PNG round trips).
test-deps:
	@./.ci/test-deps

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

FAULTS_DURATION ?= 20s
## faults: faults under load with real processes: a PostgreSQL, a Redis and a gateway of its own, one fault per run (loadtest/faults.sh)
faults:
	GO=$(GO) ./loadtest/faults.sh -d $(FAULTS_DURATION) $(FAULTS)

## faults-short: make test's share: every fault for 6 s of load (about a minute once built)
faults-short:
	@GO=$(GO) ./loadtest/faults.sh -d 6s

## bench-limit: the PostgreSQL one-payment-per-commit limits (hot and spread) of this machine
bench-limit: services
	./loadtest/limit/limit.sh

## bench: the Go micro-benchmarks, then the limits and every load scenario in one run (loadtest/bench.sh)
bench: services
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./ledger/ ./merchant/... ./money/
	./loadtest/bench.sh 10s
