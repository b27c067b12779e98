/* References: docker's grammar and normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../oci/oci.h"

static void expect_canonical(const char *text, const char *canonical, const char *familiar)
{
	oci_ref ref;
	vce_err err = NULL;

	assert_int_equal(oci_ref_parse(text, &ref, &err), 0);
	char *c = oci_ref_canonical(&ref);
	char *f = oci_ref_familiar_repo(&ref);
	assert_string_equal(c, canonical);
	assert_string_equal(f, familiar);
	free(c);
	free(f);
	oci_ref_free(&ref);
}

static void expect_invalid(const char *text, const char *why)
{
	oci_ref ref;
	vce_err err = NULL;

	assert_int_equal(oci_ref_parse(text, &ref, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, why));
	vce_error_release(&err);
}

static void test_normalisation(void **state)
{
	(void)state;
	expect_canonical("busybox", "docker.io/library/busybox:latest", "busybox");
	expect_canonical("busybox:1.36", "docker.io/library/busybox:1.36", "busybox");
	expect_canonical("ousefulcoursecontainers/ou-tm351:current",
			 "docker.io/ousefulcoursecontainers/ou-tm351:current",
			 "ousefulcoursecontainers/ou-tm351");
	expect_canonical("docker.io/library/busybox", "docker.io/library/busybox:latest",
			 "busybox");
	expect_canonical("index.docker.io/jupyter/base-notebook",
			 "docker.io/jupyter/base-notebook:latest", "jupyter/base-notebook");
	expect_canonical("localhost:5000/course/img:v1", "localhost:5000/course/img:v1",
			 "localhost:5000/course/img");
	expect_canonical("localhost/tiny", "localhost/tiny:latest", "localhost/tiny");
	expect_canonical("quay.io/a/b/c:x_y.z-1", "quay.io/a/b/c:x_y.z-1", "quay.io/a/b/c");
	expect_canonical("[::1]:5000/img:1", "[::1]:5000/img:1", "[::1]:5000/img");
	expect_canonical("a__b/c--d.e_f", "docker.io/a__b/c--d.e_f:latest", "a__b/c--d.e_f");
	expect_canonical(
	    "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "busybox");
	expect_canonical(
	    "busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "docker.io/library/busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "busybox");
}

static void test_invalid(void **state)
{
	(void)state;
	expect_invalid("", "image name is needed");
	expect_invalid("Busybox", "lowercase");
	expect_invalid("busy box", "not a valid image name");
	expect_invalid("busybox:", "bad tag");
	expect_invalid("busybox:-x", "bad tag");
	expect_invalid("busybox@sha256:abc", "64 hex");
	expect_invalid("-busybox", "not a valid image name");
	expect_invalid("busybox-", "not a valid image name");
	expect_invalid("a//b", "not a valid image name");
	expect_invalid("a/", "not a valid image name");
	expect_invalid("exa_mple.com/x", "not a valid image name");
	expect_invalid("host:port/x", "bad registry");
	expect_invalid("a..b/c", "not a valid image name");
	char long_tag[200];
	memset(long_tag, 'a', sizeof(long_tag));
	memcpy(long_tag, "x:", 2);
	long_tag[sizeof(long_tag) - 1] = '\0';
	expect_invalid(long_tag, "bad tag");
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name));
	long_name[sizeof(long_name) - 1] = '\0';
	expect_invalid(long_name, "longer than");
}

static void test_digest(void **state)
{
	(void)state;
	char d[OCI_DIGEST_LEN + 1];
	vce_digest_of("", 0, d);
	assert_string_equal(
	    d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(oci_digest_valid(d));
	assert_false(oci_digest_valid(
	    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(oci_digest_valid(
	    "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(oci_digest_valid("sha256:e3b0"));
	assert_false(oci_digest_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalisation),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_digest),
	};
	return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
