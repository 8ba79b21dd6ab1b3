/*
 * vhost dataplane: the abstract driver object
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-builtin-visit.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "net/vhost-dp.h"

static void vhost_dp_driver_complete(UserCreatable *uc, Error **errp)
{
    VhostDpDriver *drv = VHOST_DP_DRIVER(uc);
    VhostDpDriverClass *dc = VHOST_DP_DRIVER_GET_CLASS(drv);

    /* the mandatory hooks of concrete drivers */
    assert(dc->get_caps && dc->open_queue && dc->close_queue);
    if (dc->complete && !dc->complete(drv, errp)) {
        return;
    }
    drv->created = true;
}

/*
 * Driver properties, see VhostDpProp
 */

/* a value of any kind, visited before it replaces the field */
typedef union VhostDpPropValue {
    char *str;
    bool b;
    uint16_t u16;
    uint32_t u32;
    strList *list;
    int e;
} VhostDpPropValue;

static const struct {
    const char *type;           /* NULL: the enum's, from the entry */
    size_t size;
} vhost_dp_prop_kinds[] = {
    /* "string", not "str": what object_class_property_add_str says */
    [VHOST_DP_PROP_KIND_STR] = { "string", sizeof(char *) },
    [VHOST_DP_PROP_KIND_BOOL] = { "bool", sizeof(bool) },
    [VHOST_DP_PROP_KIND_UINT16] = { "uint16", sizeof(uint16_t) },
    [VHOST_DP_PROP_KIND_UINT32] = { "uint32", sizeof(uint32_t) },
    [VHOST_DP_PROP_KIND_STRLIST] = { "strList", sizeof(strList *) },
    [VHOST_DP_PROP_KIND_ENUM] = { NULL, sizeof(int) },
};

static void *vhost_dp_prop_ptr(Object *obj, const VhostDpProp *prop)
{
    return (uint8_t *)obj + prop->offset;
}

/* visit the field at @ptr, or a VhostDpPropValue, as @prop's kind */
static bool vhost_dp_prop_visit(Visitor *v, const char *name,
                                const VhostDpProp *prop, void *ptr,
                                Error **errp)
{
    switch (prop->kind) {
    case VHOST_DP_PROP_KIND_STR:
        return visit_type_str(v, name, ptr, errp);
    case VHOST_DP_PROP_KIND_BOOL:
        return visit_type_bool(v, name, ptr, errp);
    case VHOST_DP_PROP_KIND_UINT16:
        return visit_type_uint16(v, name, ptr, errp);
    case VHOST_DP_PROP_KIND_UINT32:
        return visit_type_uint32(v, name, ptr, errp);
    case VHOST_DP_PROP_KIND_STRLIST:
        return visit_type_strList(v, name, ptr, errp);
    case VHOST_DP_PROP_KIND_ENUM:
        return visit_type_enum(v, name, ptr, prop->enum_lookup, errp);
    default:
        g_assert_not_reached();
    }
}

static void vhost_dp_prop_get(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    const VhostDpProp *prop = opaque;

    vhost_dp_prop_visit(v, name, prop, vhost_dp_prop_ptr(obj, prop), errp);
}

/*
 * Free what a string or list field holds.  The setter calls it for the
 * old value, object_finalize for the last one (before instance_finalize).
 */
static void vhost_dp_prop_release(Object *obj, const char *name,
                                  void *opaque)
{
    const VhostDpProp *prop = opaque;
    void *ptr = vhost_dp_prop_ptr(obj, prop);

    if (prop->kind == VHOST_DP_PROP_KIND_STR) {
        g_clear_pointer((char **)ptr, g_free);
    } else if (prop->kind == VHOST_DP_PROP_KIND_STRLIST) {
        g_clear_pointer((strList **)ptr, qapi_free_strList);
    }
}

static void vhost_dp_prop_set(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    const VhostDpProp *prop = opaque;
    VhostDpPropValue value;
    uint32_t n;

    /*
     * The driver reads its properties in complete, and its queues work
     * with what it made of them then: a later change would not take
     * effect, or would not match the open queues.
     */
    if (VHOST_DP_DRIVER(obj)->created) {
        error_setg(errp, "cannot change property value of '%s' once it is "
                   "created", object_get_canonical_path_component(obj));
        return;
    }
    /* into a local first: a value that is refused leaves the field alone */
    if (!vhost_dp_prop_visit(v, name, prop, &value, errp)) {
        return;
    }
    if (prop->max) {
        n = prop->kind == VHOST_DP_PROP_KIND_UINT16 ? value.u16 : value.u32;
        if (n < prop->min || n > prop->max) {
            error_setg(errp, "%s must be between %" PRIu32 " and %" PRIu32
                       ", not %" PRIu32, name, prop->min, prop->max, n);
            return;
        }
    }
    vhost_dp_prop_release(obj, name, opaque);
    memcpy(vhost_dp_prop_ptr(obj, prop), &value,
           vhost_dp_prop_kinds[prop->kind].size);
}

void vhost_dp_driver_class_add_props(ObjectClass *oc,
                                     const VhostDpProp *props, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const VhostDpProp *prop = &props[i];
        bool owned = prop->kind == VHOST_DP_PROP_KIND_STR ||
                     prop->kind == VHOST_DP_PROP_KIND_STRLIST;

        assert(prop->kind < ARRAY_SIZE(vhost_dp_prop_kinds));
        /* a range only for the unsigned kinds */
        assert(!prop->max || prop->kind == VHOST_DP_PROP_KIND_UINT16 ||
               prop->kind == VHOST_DP_PROP_KIND_UINT32);
        object_class_property_add(oc, prop->name,
                                  vhost_dp_prop_kinds[prop->kind].type ?:
                                  prop->enum_type,
                                  vhost_dp_prop_get, vhost_dp_prop_set,
                                  owned ? vhost_dp_prop_release : NULL,
                                  (void *)prop);
        object_class_property_set_description(oc, prop->name,
                                              prop->description);
    }
}

static bool vhost_dp_driver_can_be_deleted(UserCreatable *uc)
{
    /* a driver in use by a netdev stays until the netdev is deleted */
    return !VHOST_DP_DRIVER(uc)->netdev_id;
}

static void vhost_dp_driver_finalize(Object *obj)
{
    VhostDpDriver *drv = VHOST_DP_DRIVER(obj);

    g_free(drv->netdev_id);
}

static void vhost_dp_driver_class_init(ObjectClass *oc, const void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = vhost_dp_driver_complete;
    ucc->can_be_deleted = vhost_dp_driver_can_be_deleted;
}

static const TypeInfo vhost_dp_driver_info = {
    .name = TYPE_VHOST_DP_DRIVER,
    .parent = TYPE_OBJECT,
    .abstract = true,
    .instance_size = sizeof(VhostDpDriver),
    .instance_finalize = vhost_dp_driver_finalize,
    .class_size = sizeof(VhostDpDriverClass),
    .class_init = vhost_dp_driver_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void vhost_dp_driver_register_types(void)
{
    type_register_static(&vhost_dp_driver_info);
}

type_init(vhost_dp_driver_register_types);
