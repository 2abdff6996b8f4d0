/* SPDX-License-Identifier: MIT */
/* Result sets: columns, then rows of values whose bytes live in one growing store. */
#include <string.h>

#include <weft/dbpool.h>

#include "../common/alloc-internal.h"
#include "dbpool-internal.h"

/*
 * While a set is being built, a text or blob value's `data` holds its offset into `bytes`
 * (the store moves as it grows); weft__db_result_finish turns offsets into pointers. Text is
 * stored with a NUL after it, so text values are C strings too.
 */
typedef struct {
    char *name;
    weft_db_type_t type;
} column_t;

/* A point read (a row or two of a few columns) fits in the set's own allocation: the arrays
 * move to the heap only when they outgrow these. */
#define SMALL_COLS   4
#define SMALL_VALUES 8
#define SMALL_BYTES  256

struct weft_db_result_s {
    size_t ncols, nrows, cap_rows;
    column_t *cols;
    weft_db_value_t *values; /* nrows * ncols */
    char *bytes;
    size_t nbytes, cap_bytes;
    column_t small_cols[SMALL_COLS];
    weft_db_value_t small_values[SMALL_VALUES];
    char small_bytes[SMALL_BYTES];
};

weft_db_result_t *weft__db_result_new(size_t ncols)
{
    weft_db_result_t *rs = weft__malloc(sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->ncols = ncols;
    rs->nrows = 0;
    rs->cols = rs->small_cols;
    if (ncols > SMALL_COLS && (rs->cols = weft__malloc(ncols * sizeof(column_t))) == NULL) {
        weft__free(rs);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++)
        rs->cols[c] = (column_t){NULL, WEFT_DB_NULL};
    rs->values = rs->small_values;
    rs->cap_rows = ncols > 0 ? SMALL_VALUES / ncols : SMALL_VALUES;
    rs->bytes = rs->small_bytes;
    rs->nbytes = 0;
    rs->cap_bytes = SMALL_BYTES;
    return rs;
}

int weft__db_result_set_column(weft_db_result_t *rs, size_t col, const char *name,
                               weft_db_type_t type)
{
    char *copy = weft__strdup(name ? name : "");
    if (copy == NULL)
        return WEFT_ENOMEM;
    weft__free(rs->cols[col].name);
    rs->cols[col].name = copy;
    rs->cols[col].type = type;
    return 0;
}

static int reserve_bytes(weft_db_result_t *rs, size_t more)
{
    if (rs->cap_bytes - rs->nbytes >= more)
        return 0;
    size_t cap = rs->cap_bytes;
    while (cap - rs->nbytes < more)
        cap *= 2;
    char *b;
    if (rs->bytes == rs->small_bytes) {
        if ((b = weft__malloc(cap)) != NULL)
            memcpy(b, rs->bytes, rs->nbytes);
    } else {
        b = weft__realloc(rs->bytes, cap);
    }
    if (b == NULL)
        return WEFT_ENOMEM;
    rs->bytes = b;
    rs->cap_bytes = cap;
    return 0;
}

int weft__db_result_add_row(weft_db_result_t *rs, const weft_db_value_t *row)
{
    if (rs->nrows == rs->cap_rows) {
        size_t cap = rs->cap_rows ? rs->cap_rows * 2 : 4;
        size_t cells = cap * (rs->ncols ? rs->ncols : 1);
        weft_db_value_t *v;
        if (rs->values == rs->small_values) {
            if ((v = weft__malloc(cells * sizeof(*v))) != NULL && rs->nrows > 0)
                memcpy(v, rs->values, rs->nrows * rs->ncols * sizeof(*v));
        } else {
            v = weft__realloc(rs->values, cells * sizeof(*v));
        }
        if (v == NULL)
            return WEFT_ENOMEM;
        rs->values = v;
        rs->cap_rows = cap;
    }
    weft_db_value_t *out = rs->values + rs->nrows * rs->ncols;
    for (size_t c = 0; c < rs->ncols; c++) {
        out[c] = row[c];
        if (row[c].type == WEFT_DB_TEXT || row[c].type == WEFT_DB_BLOB) {
            if (reserve_bytes(rs, row[c].len + 1) != 0)
                return WEFT_ENOMEM;
            if (row[c].len > 0)
                memcpy(rs->bytes + rs->nbytes, row[c].data, row[c].len);
            rs->bytes[rs->nbytes + row[c].len] = '\0';
            out[c].data = (const void *)(uintptr_t)rs->nbytes;
            rs->nbytes += row[c].len + 1;
        }
        if (rs->cols[c].type == WEFT_DB_NULL)
            rs->cols[c].type = row[c].type;
    }
    rs->nrows++;
    return 0;
}

void weft__db_result_finish(weft_db_result_t *rs)
{
    for (size_t i = 0; i < rs->nrows * rs->ncols; i++) {
        weft_db_value_t *v = &rs->values[i];
        if (v->type == WEFT_DB_TEXT || v->type == WEFT_DB_BLOB)
            v->data = rs->bytes + (uintptr_t)v->data;
    }
}

weft_result_t weft__db_exec_result(int64_t rows, int64_t last_id, bool has_last_id)
{
    weft_db_exec_t *e = weft__malloc(sizeof(*e));
    if (e == NULL)
        return weft_fail(weft_failure_from_code(WEFT_ENOMEM, NULL));
    e->rows_affected = rows;
    e->last_insert_id = has_last_id ? last_id : 0;
    e->has_last_insert_id = has_last_id;
    return weft_ok(e, weft__free);
}

size_t weft_db_result_rows(const weft_db_result_t *rs)
{
    return rs ? rs->nrows : 0;
}

size_t weft_db_result_columns(const weft_db_result_t *rs)
{
    return rs ? rs->ncols : 0;
}

const char *weft_db_result_column_name(const weft_db_result_t *rs, size_t col)
{
    return rs && col < rs->ncols ? rs->cols[col].name : NULL;
}

weft_db_type_t weft_db_result_column_type(const weft_db_result_t *rs, size_t col)
{
    return rs && col < rs->ncols ? rs->cols[col].type : WEFT_DB_NULL;
}

const weft_db_value_t *weft_db_result_value(const weft_db_result_t *rs, size_t row, size_t col)
{
    if (rs == NULL || row >= rs->nrows || col >= rs->ncols)
        return NULL;
    return &rs->values[row * rs->ncols + col];
}

void weft_db_result_free(weft_db_result_t *rs)
{
    if (rs == NULL)
        return;
    for (size_t c = 0; c < rs->ncols; c++)
        weft__free(rs->cols[c].name);
    if (rs->cols != rs->small_cols)
        weft__free(rs->cols);
    if (rs->values != rs->small_values)
        weft__free(rs->values);
    if (rs->bytes != rs->small_bytes)
        weft__free(rs->bytes);
    weft__free(rs);
}

void weft_db_result_free_fn(void *rs)
{
    weft_db_result_free(rs);
}
