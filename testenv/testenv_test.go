package testenv_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/testenv"
)

// TestSlot checks the slot computation against Redis Cluster's
// specification examples and its hash tag rules.
func TestSlot(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want int
	}{
		{"123456789", 12739}, // CRC16/XMODEM("123456789") = 0x31C3
		{"foo", 12182},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", 8363}, // an empty first tag: the whole key
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"bar", 5061},
	} {
		if got := testenv.Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d; want %d", tt.key, got, tt.want)
		}
	}
}

// TestKeysAndDeleteKeysSeeEveryNode: keys spread over the hash slots are
// all found and all deleted, on a cluster as on one server. On a cluster
// the client is a cluster client, Redis computes the slots Slot does, and
// the keys are spread over more than one master.
func TestKeysAndDeleteKeysSeeEveryNode(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	const n = 60
	for i := range n {
		if err := rdb.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := testenv.Keys(ctx, rdb, prefix+"*")
	if err != nil || len(keys) != n {
		t.Fatalf("Keys = %d keys, %v; want %d", len(keys), err, n)
	}
	if addrs := testenv.RedisCluster(); addrs != nil {
		cluster, ok := rdb.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("TEST_REDIS_CLUSTER=%v but testenv.Redis gave a %T", addrs, rdb)
		}
		for _, k := range keys[:5] {
			if got, err := rdb.ClusterKeySlot(ctx, k).Result(); err != nil || int(got) != testenv.Slot(k) {
				t.Errorf("CLUSTER KEYSLOT %s = %d, %v; Slot = %d", k, got, err, testenv.Slot(k))
			}
		}
		var mu sync.Mutex
		holding := 0
		err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			k, err := node.Keys(ctx, prefix+"*").Result()
			mu.Lock()
			defer mu.Unlock()
			if len(k) > 0 {
				holding++
			}
			return err
		})
		if err != nil || holding < 2 {
			t.Errorf("masters holding the test's keys = %d, %v; want more than one", holding, err)
		}
	}
	if err := testenv.DeleteKeys(ctx, rdb, prefix+"*"); err != nil {
		t.Fatal(err)
	}
	if keys, err := testenv.Keys(ctx, rdb, prefix+"*"); err != nil || len(keys) != 0 {
		t.Errorf("after DeleteKeys: %v, %v; want none", keys, err)
	}
}
