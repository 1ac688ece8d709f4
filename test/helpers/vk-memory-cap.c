// A Vulkan layer that gives a real driver a smaller memory: vkAllocateMemory answers VK_ERROR_OUT_OF_DEVICE_MEMORY once
// the device memory held (all live allocations, freed ones given back) would pass PIE_VK_MEMORY_CAP bytes, and the
// heaps report that size. Everything else goes straight to the driver below. Built and enabled at test time by
// test/helpers/vk-memory-cap.ts (VK_LAYER_PATH, VK_INSTANCE_LAYERS=VK_LAYER_PIE_memory_cap); with PIE_VK_MEMORY_LOG set
// to a file it appends a line per allocation, free and refusal ("alloc <bytes> <held>", "free <bytes> <held>",
// "refuse <bytes> <held>").
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_OBJECTS 64

typedef void *Key; // the loader's dispatch table pointer, shared by an instance and its physical devices

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct Instance {
  Key key;
  PFN_vkGetInstanceProcAddr next;
  PFN_vkGetPhysicalDeviceMemoryProperties memoryProperties;
  PFN_vkGetPhysicalDeviceMemoryProperties2 memoryProperties2;
} instances[MAX_OBJECTS];
static struct Device { Key key; PFN_vkGetDeviceProcAddr next; PFN_vkAllocateMemory alloc; PFN_vkFreeMemory free; } devices[MAX_OBJECTS];
static struct Allocation { VkDeviceMemory memory; VkDeviceSize size; } *held;
static size_t nHeld, capHeld;
static VkDeviceSize heldBytes;

static Key keyOf(const void *dispatchable) { return *(Key *)dispatchable; }

static VkDeviceSize cap(void) {
  const char *s = getenv("PIE_VK_MEMORY_CAP");
  return s ? (VkDeviceSize)strtoull(s, NULL, 10) : (VkDeviceSize)-1;
}

static void logLine(const char *what, VkDeviceSize bytes) {
  const char *path = getenv("PIE_VK_MEMORY_LOG");
  if (!path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s %llu %llu\n", what, (unsigned long long)bytes, (unsigned long long)heldBytes);
  fclose(f);
}

static struct Instance *instanceOf(Key key) {
  for (int i = 0; i < MAX_OBJECTS; i++) if (instances[i].key == key) return &instances[i];
  return NULL;
}

/** A physical device's instance: the one with its dispatch key, else the first (there is one in practice). */
static struct Instance *instanceOfPhysical(VkPhysicalDevice pd) {
  struct Instance *i = instanceOf(keyOf(pd));
  for (int k = 0; !i && k < MAX_OBJECTS; k++) if (instances[k].key) i = &instances[k];
  return i;
}

static struct Device *deviceOf(Key key) {
  for (int i = 0; i < MAX_OBJECTS; i++) if (devices[i].key == key) return &devices[i];
  return NULL;
}

static void *chainLink(const void *pNext, VkStructureType type) {
  for (VkBaseInStructure *s = (VkBaseInStructure *)pNext; s; s = (VkBaseInStructure *)s->pNext) {
    if (s->sType == type && ((VkLayerInstanceCreateInfo *)s)->function == VK_LAYER_LINK_INFO) return s;
  }
  return NULL;
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo *info, const VkAllocationCallbacks *a, VkInstance *out) {
  VkLayerInstanceCreateInfo *link = chainLink(info->pNext, VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr next = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)next(VK_NULL_HANDLE, "vkCreateInstance");
  VkResult r = create(info, a, out);
  if (r != VK_SUCCESS) return r;
  pthread_mutex_lock(&lock);
  struct Instance *slot = instanceOf(NULL);
  if (slot) {
    *slot = (struct Instance){ keyOf(*out), next, (PFN_vkGetPhysicalDeviceMemoryProperties)next(*out, "vkGetPhysicalDeviceMemoryProperties"),
                               (PFN_vkGetPhysicalDeviceMemoryProperties2)next(*out, "vkGetPhysicalDeviceMemoryProperties2") };
  }
  pthread_mutex_unlock(&lock);
  return slot ? VK_SUCCESS : VK_ERROR_INITIALIZATION_FAILED;
}

static VKAPI_ATTR void VKAPI_CALL DestroyInstance(VkInstance instance, const VkAllocationCallbacks *a) {
  pthread_mutex_lock(&lock);
  struct Instance *slot = instanceOf(keyOf(instance));
  PFN_vkGetInstanceProcAddr next = slot ? slot->next : NULL;
  if (slot) slot->key = NULL;
  pthread_mutex_unlock(&lock);
  if (next) ((PFN_vkDestroyInstance)next(instance, "vkDestroyInstance"))(instance, a);
}

static void clampHeaps(VkPhysicalDeviceMemoryProperties *p) {
  VkDeviceSize c = cap();
  for (uint32_t i = 0; i < p->memoryHeapCount; i++) if (p->memoryHeaps[i].size > c) p->memoryHeaps[i].size = c;
}

static VKAPI_ATTR void VKAPI_CALL GetPhysicalDeviceMemoryProperties(VkPhysicalDevice pd, VkPhysicalDeviceMemoryProperties *p) {
  instanceOfPhysical(pd)->memoryProperties(pd, p);
  clampHeaps(p);
}

static VKAPI_ATTR void VKAPI_CALL GetPhysicalDeviceMemoryProperties2(VkPhysicalDevice pd, VkPhysicalDeviceMemoryProperties2 *p) {
  instanceOfPhysical(pd)->memoryProperties2(pd, p);
  clampHeaps(&p->memoryProperties);
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateDevice(VkPhysicalDevice pd, const VkDeviceCreateInfo *info, const VkAllocationCallbacks *a, VkDevice *out) {
  VkLayerDeviceCreateInfo *link = chainLink(info->pNext, VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr nextInstance = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  PFN_vkGetDeviceProcAddr next = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateDevice create = (PFN_vkCreateDevice)nextInstance(VK_NULL_HANDLE, "vkCreateDevice");
  VkResult r = create(pd, info, a, out);
  if (r != VK_SUCCESS) return r;
  pthread_mutex_lock(&lock);
  struct Device *slot = deviceOf(NULL);
  if (slot) {
    *slot = (struct Device){ keyOf(*out), next, (PFN_vkAllocateMemory)next(*out, "vkAllocateMemory"), (PFN_vkFreeMemory)next(*out, "vkFreeMemory") };
  }
  pthread_mutex_unlock(&lock);
  return slot ? VK_SUCCESS : VK_ERROR_INITIALIZATION_FAILED;
}

static VKAPI_ATTR void VKAPI_CALL DestroyDevice(VkDevice device, const VkAllocationCallbacks *a) {
  pthread_mutex_lock(&lock);
  struct Device *slot = deviceOf(keyOf(device));
  PFN_vkGetDeviceProcAddr next = slot ? slot->next : NULL;
  if (slot) slot->key = NULL;
  pthread_mutex_unlock(&lock);
  if (next) ((PFN_vkDestroyDevice)next(device, "vkDestroyDevice"))(device, a);
}

static VKAPI_ATTR VkResult VKAPI_CALL AllocateMemory(VkDevice device, const VkMemoryAllocateInfo *info, const VkAllocationCallbacks *a, VkDeviceMemory *out) {
  pthread_mutex_lock(&lock);
  struct Device *d = deviceOf(keyOf(device));
  VkDeviceSize size = info->allocationSize;
  if (!d) {
    pthread_mutex_unlock(&lock);
    return VK_ERROR_DEVICE_LOST; // a device this layer did not see created: cannot happen with the loader
  }
  if (heldBytes + size > cap()) {
    logLine("refuse", size);
    pthread_mutex_unlock(&lock);
    return VK_ERROR_OUT_OF_DEVICE_MEMORY;
  }
  VkResult r = d->alloc(device, info, a, out);
  if (r == VK_SUCCESS) {
    if (nHeld == capHeld) {
      capHeld = capHeld ? capHeld * 2 : 256;
      held = realloc(held, capHeld * sizeof *held);
    }
    held[nHeld++] = (struct Allocation){ *out, size };
    heldBytes += size;
    logLine("alloc", size);
  }
  pthread_mutex_unlock(&lock);
  return r;
}

static VKAPI_ATTR void VKAPI_CALL FreeMemory(VkDevice device, VkDeviceMemory memory, const VkAllocationCallbacks *a) {
  pthread_mutex_lock(&lock);
  struct Device *d = deviceOf(keyOf(device));
  for (size_t i = 0; i < nHeld; i++) {
    if (held[i].memory != memory) continue;
    heldBytes -= held[i].size;
    logLine("free", held[i].size);
    held[i] = held[--nHeld];
    break;
  }
  PFN_vkFreeMemory free = d ? d->free : NULL;
  pthread_mutex_unlock(&lock);
  if (free) free(device, memory, a);
}

static PFN_vkVoidFunction ours(const char *name);

EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL PieMemoryCap_GetDeviceProcAddr(VkDevice device, const char *name) {
  PFN_vkVoidFunction f = ours(name);
  if (f && strcmp(name, "vkCreateInstance") && strcmp(name, "vkDestroyInstance") && strcmp(name, "vkCreateDevice") && strncmp(name, "vkGetPhysical", 13)) return f;
  struct Device *d = deviceOf(keyOf(device));
  return d ? d->next(device, name) : NULL;
}

EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL PieMemoryCap_GetInstanceProcAddr(VkInstance instance, const char *name) {
  PFN_vkVoidFunction f = ours(name);
  if (f) return f;
  if (!instance) return NULL;
  struct Instance *i = instanceOf(keyOf(instance));
  return i ? i->next(instance, name) : NULL;
}

static PFN_vkVoidFunction ours(const char *name) {
  static const struct { const char *name; PFN_vkVoidFunction f; } table[] = {
    { "vkGetInstanceProcAddr", (PFN_vkVoidFunction)PieMemoryCap_GetInstanceProcAddr },
    { "vkGetDeviceProcAddr", (PFN_vkVoidFunction)PieMemoryCap_GetDeviceProcAddr },
    { "vkCreateInstance", (PFN_vkVoidFunction)CreateInstance },
    { "vkDestroyInstance", (PFN_vkVoidFunction)DestroyInstance },
    { "vkGetPhysicalDeviceMemoryProperties", (PFN_vkVoidFunction)GetPhysicalDeviceMemoryProperties },
    { "vkGetPhysicalDeviceMemoryProperties2", (PFN_vkVoidFunction)GetPhysicalDeviceMemoryProperties2 },
    { "vkGetPhysicalDeviceMemoryProperties2KHR", (PFN_vkVoidFunction)GetPhysicalDeviceMemoryProperties2 },
    { "vkCreateDevice", (PFN_vkVoidFunction)CreateDevice },
    { "vkDestroyDevice", (PFN_vkVoidFunction)DestroyDevice },
    { "vkAllocateMemory", (PFN_vkVoidFunction)AllocateMemory },
    { "vkFreeMemory", (PFN_vkVoidFunction)FreeMemory },
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) if (!strcmp(name, table[i].name)) return table[i].f;
  return NULL;
}
