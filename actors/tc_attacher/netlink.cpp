// Being written (see netlink.hpp).
#include "actors/tc_attacher/netlink.hpp"
