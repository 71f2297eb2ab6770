/* The HTTP API's service clients, as typed services over store/records.c
 * (psc.h): who may manage them is the door's table (administrators). */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "psc.h"
#include "records.h"

int clients_add(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	char ret_secret[SECRET_TOKEN_HEX], struct fault *f)
{
	int rc;

	if (!id || !service_id_valid(id))
		return fault_field(f, "id", "format", "identifiant de service : [a-z0-9][a-z0-9._-]{0,62}");
	rc = service_add(s, c, id, ret_secret);
	caller_audit(who, "service-add", NULL, id, rc == 0,
		rc == 0                 ? "created"
			: rc == -EEXIST ? "exists"
					: "directory error");
	if (rc == -EEXIST)
		return fault_set(f, rc, "le service %s existe déjà", id);
	if (rc < 0)
		return fault_store(f, rc, "annuaire");
	return 0;
}

int clients_remove(
	struct store *s, const struct mm_config *c, const struct caller *who, const char *id, struct fault *f)
{
	int rc;

	if (!id || !service_id_valid(id))
		return fault_field(f, "id", "format", "identifiant de service invalide");
	rc = service_remove(s, c, id);
	caller_audit(who, "service-remove", NULL, id, rc == 0, rc == 0 ? "removed" : "not found");
	if (rc == -ENOENT)
		return fault_set(f, rc, "service %s inconnu", id);
	if (rc < 0)
		return fault_store(f, rc, "annuaire");
	return 0;
}
