/* Manifests, indexes and configs: what is accepted and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../oci/oci.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static int parse_manifest(const char *text, oci_manifest *m, char **msg)
{
	vce_err err = NULL;
	int ret = oci_manifest_parse(text, strlen(text), m, &err);
	if (ret < 0) {
		*msg = strdup(err->msg);
		vce_error_release(&err);
	}
	return ret;
}

static void test_manifest_ok(void **state)
{
	(void)state;
	const char *text =
	    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
	    "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	    "\"layers\":[{\"mediaType\":\"" DOCKER_MT_LAYER_GZIP "\",\"digest\":\"" D2
	    "\",\"size\":9}]}";
	oci_manifest m;
	char *msg = NULL;
	oci_compression c;
	vce_err err = NULL;

	assert_int_equal(parse_manifest(text, &m, &msg), 0);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.n_layers, 1);
	assert_int_equal(m.layers[0].size, 9);
	assert_int_equal(oci_layer_compression(m.layers[0].media_type, &c, &err), 0);
	assert_int_equal(c, OCI_LAYER_GZIP);
	oci_manifest_free(&m);
}

static void expect_manifest_error(const char *text, const char *why)
{
	oci_manifest m;
	char *msg = NULL;

	assert_int_equal(parse_manifest(text, &m, &msg), -1);
	assert_non_null(strstr(msg, why));
	free(msg);
}

static void test_manifest_errors(void **state)
{
	(void)state;
	expect_manifest_error("{", "malformed JSON");
	expect_manifest_error("[]", "expected an object");
	expect_manifest_error("{\"schemaVersion\":1}", "schemaVersion");
	expect_manifest_error("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}",
			      "unknown media type");
	expect_manifest_error(
	    "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:x\",\"size\":1},\"layers\":[]}",
	    "valid sha256 digest");
	expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
			      "\",\"size\":-1},\"layers\":[]}",
			      "valid size");
	expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1}}",
			      "not a list");
	expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},"
			      "\"layers\":[{\"mediaType\":\"application/x-foo\",\"digest\":\"" D2
			      "\",\"size\":1}]}",
			      "unknown layer media type");
	expect_manifest_error("{\"schemaVersion\":2,\"schemaVersion\":2}", "malformed JSON");
}

static void test_index(void **state)
{
	(void)state;
	const char *text =
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MT_MANIFEST "\","
	    "\"digest\":\"" D1
	    "\",\"size\":3,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"},"
	    "\"annotations\":{\"org.opencontainers.image.ref.name\":\"tiny:1\"}}]}";
	oci_index idx;
	vce_err err = NULL;

	assert_int_equal(oci_index_parse(text, strlen(text), &idx, &err), 0);
	assert_int_equal(idx.n_manifests, 1);
	assert_string_equal(idx.manifests[0].platform_arch, "arm64");
	assert_string_equal(idx.manifests[0].ref_name, "tiny:1");
	oci_index_free(&idx);

	const char *bad =
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\",\"digest\":\"" D1
	    "\",\"size\":3}]}";
	assert_int_equal(oci_index_parse(bad, strlen(bad), &idx, &err), -1);
	assert_non_null(strstr(err->msg, "unknown media type"));
	vce_error_release(&err);
}

static void test_config(void **state)
{
	(void)state;
	const char *text =
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
	oci_config c;
	vce_err err = NULL;

	assert_int_equal(oci_config_parse(text, strlen(text), &c, &err), 0);
	assert_int_equal(c.n_diff_ids, 2);
	assert_string_equal(c.diff_ids[1], D2);
	oci_config_free(&c);
	const char *bad = "{\"rootfs\":{\"diff_ids\":[\"nope\"]}}";
	assert_int_equal(oci_config_parse(bad, strlen(bad), &c, &err), -1);
	vce_error_release(&err);
	const char *none = "{\"os\":\"linux\"}";
	assert_int_equal(oci_config_parse(none, strlen(none), &c, &err), -1);
	vce_error_release(&err);
}

static void test_sniff(void **state)
{
	(void)state;
	const unsigned char gz[] = { 0x1f, 0x8b, 8, 0 }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd },
			    tar[] = { 'e', 't', 'c', '/' };
	assert_int_equal(oci_sniff_compression(gz, 4), OCI_LAYER_GZIP);
	assert_int_equal(oci_sniff_compression(zs, 4), OCI_LAYER_ZSTD);
	assert_int_equal(oci_sniff_compression(tar, 4), OCI_LAYER_TAR);
	assert_int_equal(oci_sniff_compression(gz, 1), OCI_LAYER_TAR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_ok), cmocka_unit_test(test_manifest_errors),
		cmocka_unit_test(test_index),	    cmocka_unit_test(test_config),
		cmocka_unit_test(test_sniff),
	};
	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
