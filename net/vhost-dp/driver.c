/*
 * vhost dataplane: the abstract driver object
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
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

bool vhost_dp_driver_check_settable(Object *obj, Error **errp)
{
    if (VHOST_DP_DRIVER(obj)->created) {
        error_setg(errp, "cannot change property value of '%s' once it is "
                   "created", object_get_canonical_path_component(obj));
        return false;
    }
    return true;
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

static void vhost_dp_driver_class_init(ObjectClass *oc, void *data)
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
