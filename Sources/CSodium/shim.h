#ifndef LEUKNODE_CSODIUM_SHIM_H
#define LEUKNODE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
