#ifndef LEUKNODE_CLEVELDB_SHIM_H
#define LEUKNODE_CLEVELDB_SHIM_H
#include <leveldb/c.h>
#endif
