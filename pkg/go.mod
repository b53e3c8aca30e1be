module github.com/heraldhq/herald/pkg

go 1.26

require github.com/diegoholiveira/jsonlogic/v3 v3.5.1

require github.com/barkimedes/go-deepcopy v0.0.0-20220514131651-17c30cfc62df // indirect
