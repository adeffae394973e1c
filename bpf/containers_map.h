/* The containers map: which container a mount namespace belongs to, for any
 * eBPF tool on the node (CONTRACTS.md, "Kernel objects we own"). nodewatch
 * creates it (BPF_MAP_TYPE_HASH) and pins it at <pin-path>/containers
 * (default /sys/fs/bpf/nodewatch/containers); other tools open the pin
 * (bpf_obj_get, bpf_map__reuse_fd) and only look entries up.
 *
 *   key:   __u64, the container's mount namespace inode (/proc/PID/ns/mnt,
 *          BPF's task->nsproxy->mnt_ns->ns.inum)
 *   value: struct nw_container_entry below
 *
 * Plain C with __u64/char only, so any C or C++ tool can include it: BPF
 * programs include vmlinux.h (which defines the __u types) first, user space
 * gets them from <linux/types.h>. */
#ifndef NW_BPF_CONTAINERS_MAP_H
#define NW_BPF_CONTAINERS_MAP_H

#ifndef __VMLINUX_H__
#  include <linux/types.h>
#endif

/* Bytes per field, NUL included: a longer string is cut to 255 bytes. */
#define NW_CONTAINERS_MAP_FIELD_SIZE 256
/* Capacity. The map is allocated on demand (BPF_F_NO_PREALLOC), so an empty
 * map costs nothing; a full one refuses new containers (E2BIG). */
#define NW_CONTAINERS_MAP_ENTRIES 8192
/* The pin's file name under the pin path. */
#define NW_CONTAINERS_MAP_PIN_NAME "containers"

/* The key's type. */
typedef __u64 nw_containers_map_key;

/* The value. Every field is NUL-terminated and zero-filled after the
 * string; "" when unknown (a container outside Kubernetes has no
 * k8s_namespace or k8s_pod). */
struct nw_container_entry {
  /* The OCI container id. */
  char container_id[NW_CONTAINERS_MAP_FIELD_SIZE];
  /* The Kubernetes namespace (io.kubernetes.pod.namespace). */
  char k8s_namespace[NW_CONTAINERS_MAP_FIELD_SIZE];
  /* The Kubernetes pod name (io.kubernetes.pod.name). */
  char k8s_pod[NW_CONTAINERS_MAP_FIELD_SIZE];
  /* The container's name, as nodewatch's event lines give it: the k8s
   * container name if annotated, else the manager's name, else the id. */
  char container_name[NW_CONTAINERS_MAP_FIELD_SIZE];
};

/* Both sides compile these lines: a layout change they disagree on fails
 * here. */
#ifdef __cplusplus
static_assert(sizeof(nw_containers_map_key) == 8, "containers map key");
static_assert(sizeof(struct nw_container_entry) == 1024,
              "nw_container_entry layout");
static_assert(__builtin_offsetof(struct nw_container_entry, container_name)
                == 768,
              "nw_container_entry layout");
#else
_Static_assert(sizeof(nw_containers_map_key) == 8, "containers map key");
_Static_assert(sizeof(struct nw_container_entry) == 1024,
               "nw_container_entry layout");
_Static_assert(__builtin_offsetof(struct nw_container_entry, container_name)
                 == 768,
               "nw_container_entry layout");
#endif

#endif /* NW_BPF_CONTAINERS_MAP_H */
