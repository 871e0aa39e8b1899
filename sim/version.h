/* SPDX-License-Identifier: MIT */
/*
 * version.h - the version both binaries print (ztun-ref --version,
 * ztun-sim --version): one release, one number.
 */
#ifndef ZTUN_SIM_VERSION_H
#define ZTUN_SIM_VERSION_H

#define ZTUN_VERSION "0.1.0"

#endif /* ZTUN_SIM_VERSION_H */
