/*
 * test_store_fs.c - the network-file-system check behind the start-up
 * refusal "database directory is on a network file system". An NFS or SMB
 * mount cannot be made in CI, so the f_type classification is tested here
 * with the magic numbers of statfs(2) and linux/magic.h.
 */
#include "gatehouse/store.h"
#include "gatehouse/store_sqlite.h"
#include "harness.h"

TEST(network_file_systems_are_refused)
{
	CHECK(store_fs_is_network(0x6969UL));     /* NFS_SUPER_MAGIC */
	CHECK(store_fs_is_network(0xFF534D42UL)); /* CIFS_MAGIC_NUMBER */
	CHECK(store_fs_is_network(0xFE534D42UL)); /* SMB2_MAGIC_NUMBER */
	CHECK(store_fs_is_network(0x517BUL));     /* SMB_SUPER_MAGIC */
}

TEST(local_file_systems_are_accepted)
{
	CHECK(!store_fs_is_network(0xEF53UL));     /* EXT4_SUPER_MAGIC (ext2/3/4) */
	CHECK(!store_fs_is_network(0x01021994UL)); /* TMPFS_MAGIC */
	CHECK(!store_fs_is_network(0x58465342UL)); /* XFS_SUPER_MAGIC */
	CHECK(!store_fs_is_network(0x9123683EUL)); /* BTRFS_SUPER_MAGIC */
	CHECK(!store_fs_is_network(0x794C7630UL)); /* OVERLAYFS_SUPER_MAGIC */
	CHECK(!store_fs_is_network(0UL));
}

int main(void)
{
	RUN(network_file_systems_are_refused);
	RUN(local_file_systems_are_accepted);
	return REPORT();
}
