/* The container's record in the store (runtime/ only). */
#ifndef VCE_RUNTIME_CONTAINER_H
#define VCE_RUNTIME_CONTAINER_H

#include <jansson.h>

#include "internal.h"

/* Under the store lock: finds the image, builds the plan, creates
 * containers/<id>/ and its state.json; *dir_fd_out gets the directory. */
int rt_container_create(oci_store *store, const rt_options *opts, rt_plan *plan, int *dir_fd_out,
			vce_err *err);
/* Removes containers/<id>, with the user's id range if files of other
 * ids are left in it (rootless). */
int rt_container_remove(oci_store *store, const char *id, vce_err *err);

json_t *rt_state_new(const rt_plan *plan);
/* The container's state.json, or NULL with err. */
json_t *rt_state_load(int dir_fd, vce_err *err);
void rt_state_set_exit(json_t *state, int code);
int rt_state_save(int dir_fd, json_t *state, vce_err *err);

#endif
