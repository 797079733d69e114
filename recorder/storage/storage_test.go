package storage_test

import (
	"testing"

	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
	"github.com/chalk-edu/chalk/recorder/storage/storagetest"
)

func TestLocal(t *testing.T) {
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, s)
}

func TestMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s, err := storage.NewMinIO(storage.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey,
		Bucket: "lessons", PartSize: 5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, s)
}
