# The recipes of examples/ that need building before tests run them
# (tests/integration/test_recipes.py): the C verifier on libjwt, and the
# Node.js verifier's jose package, installed into the build tree.

EXAMPLE_VERIFY_C := examples/verify-c-libjwt/verify-token
EXAMPLE_NPM      := $(BUILD)/npm
EXAMPLE_LIBS      = $(shell pkg-config --cflags --libs libjwt jansson libcurl libcrypto 2>/dev/null)

.PHONY: examples

examples: $(EXAMPLE_VERIFY_C) $(EXAMPLE_NPM)/node_modules/jose/package.json \
          $(EXAMPLE_NPM)/verify.mjs

$(EXAMPLE_VERIFY_C): examples/verify-c-libjwt/verify-token.c
	$(CC) -std=c11 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 $(WARN) $(CFLAGS) -o $@ $< $(EXAMPLE_LIBS)

# npm fetches jose from its registry (network needed once).
$(EXAMPLE_NPM)/node_modules/jose/package.json: examples/verify-node-jose/package.json
	@mkdir -p $(EXAMPLE_NPM)
	cp examples/verify-node-jose/package.json $(EXAMPLE_NPM)/package.json
	npm install --prefix $(EXAMPLE_NPM) --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

$(EXAMPLE_NPM)/verify.mjs: examples/verify-node-jose/verify.mjs
	@mkdir -p $(EXAMPLE_NPM)
	cp $< $@
