/* SPDX-License-Identifier: MIT */
/* The DB-API failure types and SQLSTATEs: packing them into failure codes, mapping classes. */
#include <string.h>

#include <weft/dbpool.h>

#include "dbpool-internal.h"

WEFT_FAILURE_TYPE(weft_db_error_type, "weft.db.Error", &weft_error_type);
WEFT_FAILURE_TYPE(weft_db_interface_error_type, "weft.db.InterfaceError", &weft_db_error_type);
WEFT_FAILURE_TYPE(weft_db_database_error_type, "weft.db.DatabaseError", &weft_db_error_type);
WEFT_FAILURE_TYPE(weft_db_data_error_type, "weft.db.DataError", &weft_db_database_error_type);
WEFT_FAILURE_TYPE(weft_db_operational_error_type, "weft.db.OperationalError",
                  &weft_db_database_error_type);
WEFT_FAILURE_TYPE(weft_db_integrity_error_type, "weft.db.IntegrityError",
                  &weft_db_database_error_type);
WEFT_FAILURE_TYPE(weft_db_internal_error_type, "weft.db.InternalError",
                  &weft_db_database_error_type);
WEFT_FAILURE_TYPE(weft_db_programming_error_type, "weft.db.ProgrammingError",
                  &weft_db_database_error_type);
WEFT_FAILURE_TYPE(weft_db_not_supported_error_type, "weft.db.NotSupportedError",
                  &weft_db_database_error_type);

/* A SQLSTATE is five characters of 0-9A-Z: base 36 packs it below 36^5 (60466176). */
static int digit36(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A' + 10;
    return -1;
}

int weft_db_sqlstate_code(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return 0;
    int code = 0;
    for (int i = 0; i < 5; i++) {
        int d = digit36(sqlstate[i]);
        if (d < 0)
            return 0;
        code = code * 36 + d;
    }
    return code;
}

bool weft_db_failure_sqlstate(const weft_failure_t *f, char out[6])
{
    out[0] = '\0';
    if (f == NULL || !weft_failure_is(f, &weft_db_error_type))
        return false;
    int code = weft_failure_code(f);
    if (code <= 0 || code >= 60466176)
        return false;
    for (int i = 4; i >= 0; i--) {
        int d = code % 36;
        out[i] = (char)(d < 10 ? '0' + d : 'A' + d - 10);
        code /= 36;
    }
    out[5] = '\0';
    return true;
}

/* psycopg's mapping of SQLSTATE classes to DB-API exceptions. */
const weft_failure_type_t *weft__db_type_for_sqlstate(const char *s)
{
    if (s == NULL || strlen(s) < 2)
        return &weft_db_database_error_type;
    static const struct {
        char cls[3];
        const weft_failure_type_t *type;
    } map[] = {
        {"0A", &weft_db_not_supported_error_type}, {"07", &weft_db_programming_error_type},
        {"08", &weft_db_operational_error_type},   {"21", &weft_db_data_error_type},
        {"22", &weft_db_data_error_type},          {"23", &weft_db_integrity_error_type},
        {"24", &weft_db_internal_error_type},      {"25", &weft_db_internal_error_type},
        {"26", &weft_db_operational_error_type},   {"27", &weft_db_operational_error_type},
        {"28", &weft_db_operational_error_type},   {"2B", &weft_db_internal_error_type},
        {"2D", &weft_db_internal_error_type},      {"2F", &weft_db_internal_error_type},
        {"34", &weft_db_operational_error_type},   {"3D", &weft_db_programming_error_type},
        {"3F", &weft_db_programming_error_type},   {"40", &weft_db_operational_error_type},
        {"42", &weft_db_programming_error_type},   {"44", &weft_db_programming_error_type},
        {"53", &weft_db_operational_error_type},   {"54", &weft_db_operational_error_type},
        {"55", &weft_db_operational_error_type},   {"57", &weft_db_operational_error_type},
        {"58", &weft_db_operational_error_type},   {"HY", &weft_db_operational_error_type},
        {"XX", &weft_db_internal_error_type},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (s[0] == map[i].cls[0] && s[1] == map[i].cls[1])
            return map[i].type;
    return &weft_db_database_error_type;
}

weft_failure_t *weft__db_failure(const weft_failure_type_t *type, const char *sqlstate,
                                 const char *message)
{
    if (type == NULL)
        type = weft__db_type_for_sqlstate(sqlstate);
    int code = weft_db_sqlstate_code(sqlstate);
    if (code == 0)
        return weft_failure_new(type, WEFT_EIO, message);
    return weft_failure_newf(type, code, "%s: %s", sqlstate, message ? message : type->name);
}
